"""The pose models fastpose knows by name (anything else is a path to a ``.task`` bundle).

A module of its own so that the CLI's ``--help`` and option checks can name them without loading
fastpose.models (NumPy and FlatBuffers: ~0.19 s, ``python -X importtime``)."""

MODEL_NAMES = ("lite", "full", "heavy")
