"""The ``hinr`` command line (Typer): see ``hinr --help``."""
