"""``bifsnn analyse``: continue the reduced ODE in one parameter and verify it."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from bifsnn.cli.common import (
    OUTPUT_POLICY,
    CliError,
    add_overwrite_argument,
    check_output_dir,
    listing,
    params_from_args,
    record_run_files,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``analyse`` subcommand to the top-level CLI."""
    ana = subparsers.add_parser(
        "analyse",
        help="continue the reduced ODE in one parameter and verify it against the SNN",
        description="Equilibria (Hopf/fold/branch points) of the reduced ODE along one "
        "network parameter, optional cycle branches from the Hopf points, and SNN / Markov / "
        "ODE simulations at sample values; writes report.md, analysis.json and a diagram.",
    )
    ana.add_argument("--params", type=Path, help="TOML file of network parameters")
    ana.add_argument("--set", dest="assignments", action="append", default=[],
                     metavar="NAME=VALUE", help="override one parameter (repeatable)")
    ana.add_argument("--param", default="p_EI", help="the parameter to continue in")
    ana.add_argument("--range", type=float, nargs=2, default=(0.4, 1.0), metavar=("LO", "HI"))
    ana.add_argument("--bin-rule", choices=("smooth", "reference"), default="smooth")
    ana.add_argument("--verify", type=int, default=4, help="number of verification values")
    ana.add_argument("--seeds", type=int, nargs="+", default=[0])
    ana.add_argument("--t-ms", type=float, default=1500.0, help="simulated time per run, ms")
    ana.add_argument("--cycles", action="store_true",
                     help="also continue cycle branches from the Hopf points (slow)")
    ana.add_argument("--max-steps", type=int, default=400)
    ana.add_argument("--out", type=Path, help="output directory. " + OUTPUT_POLICY)
    add_overwrite_argument(ana)
    ana.add_argument("--json", action="store_true", help="print the result as JSON")
    ana.add_argument("--no-plots", action="store_true")
    ana.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    ana.set_defaults(func=_cmd_analyse)


def _cmd_analyse(args: argparse.Namespace) -> int:
    from bifsnn.analysis import analyse_network

    params = params_from_args(args)
    transient = inspect.signature(analyse_network).parameters["transient_ms"].default
    if not args.t_ms > transient:
        raise CliError("--t-ms", f"{args.t_ms:g} ms must be longer than the {transient:g} ms "
                       "transient excluded from every verification run")
    check_output_dir(args.out, overwrite=args.overwrite, expected_bytes=4 * 2**20)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    result = analyse_network(
        params, args.param, tuple(args.range), bin_rule=args.bin_rule, n_verify=args.verify,
        seeds=tuple(args.seeds), t_ms=args.t_ms, with_cycles=args.cycles,
        max_steps=args.max_steps, log=log,
    )
    if args.out is not None:
        before = listing(args.out)
        result.save(args.out, plots=not args.no_plots)
        record_run_files(args.out, listing(args.out) - before, "analyse")
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(result.report_markdown())
    return 0 if result.success else 1
