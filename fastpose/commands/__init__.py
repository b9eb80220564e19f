"""The commands, above the library: ``fastpose run`` (run.py), ``fastpose batch`` (batch.py) and
``fastpose models`` (models.py), each the parsed arguments -> library calls -> an exit status;
parsed.py turns the options they share into a fastpose.spec.RunSpec. fastpose.cli parses the
arguments and imports the command asked for.
"""
