"""``python -m fastpose`` runs the CLI."""

from fastpose.cli import main

raise SystemExit(main())
