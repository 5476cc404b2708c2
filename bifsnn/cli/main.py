"""Command-line entry point: ``bifsnn simulate|analyse|ode|sweep|sweep-map``.

One module per subcommand in this package, each with ``register(subparsers)``; the shared run
options and output writing are in :mod:`bifsnn.cli.common`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bifsnn.cli import analyse, ode, simulate, sweep
from bifsnn.network.params import ParameterError

__all__ = ["main"]

#: Modules that contribute subcommands via ``register(subparsers)``, in --help order.
SUBCOMMAND_MODULES = (simulate, analyse, ode, sweep)


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every subcommand registered."""
    from bifsnn._version import __version__

    parser = argparse.ArgumentParser(
        prog="bifsnn",
        description="Spiking E-I networks, their Markov reduction to ODEs, and bifurcations.",
    )
    parser.add_argument("--version", action="version", version=f"bifsnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ParameterError as exc:
        print(f"bifsnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
