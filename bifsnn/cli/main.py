"""Command-line entry point: ``bifsnn simulate|analyse|ode|sweep|sweep-map|params``.

One module per subcommand in this package, each with ``register(subparsers)``; the shared run
options, argument checks and output writing are in :mod:`bifsnn.cli.common`.  Every invalid
argument or input file ends in one line ``bifsnn COMMAND: error: ...`` and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bifsnn.cli import analyse, ode, simulate, sweep
from bifsnn.cli.common import CliError, HelpFormatter
from bifsnn.network.params import NetworkParams, ParameterError

__all__ = ["build_parser", "main"]


def _register_params(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "params", help="list every network parameter with its default, unit, range and meaning",
        description="Every network parameter (the names for --set NAME=VALUE, --params FILE "
        "and sweep specs) with its default, unit, allowed range and meaning.",
    )
    p.add_argument("--toml", action="store_true",
                   help="print the defaults as a parameter file instead (for --params)")
    p.set_defaults(func=_cmd_params)


def _cmd_params(args: argparse.Namespace) -> int:
    if args.toml:
        print(NetworkParams().to_toml(), end="")
        return 0
    rows = [(d["name"], "unset" if d["default"] is None else repr(d["default"]),
             d["unit"] or "-", d["range"], d["meaning"]) for d in NetworkParams.describe()]
    head = ("name", "default", "unit", "range", "meaning")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(4)]
    for row in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return 0


#: Modules that contribute subcommands via ``register(subparsers)``, in --help order.
SUBCOMMAND_MODULES = (simulate, analyse, ode, sweep)


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every subcommand registered."""
    from bifsnn._version import __version__

    parser = argparse.ArgumentParser(
        prog="bifsnn", formatter_class=HelpFormatter,
        description="Spiking E-I networks, their Markov reduction to ODEs, and bifurcations.",
    )
    parser.add_argument("--version", action="version", version=f"bifsnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMAND_MODULES:
        module.register(sub)
    _register_params(sub)
    for sub_parser in sub.choices.values():
        sub_parser.formatter_class = HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from bifsnn._h5files import DamagedFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ParameterError, DamagedFileError) as exc:
        print(f"bifsnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing the results
        print(f"bifsnn {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
