"""All command-line code of bifsnn: one module per subcommand (``bifsnn --help``)."""

from bifsnn.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
