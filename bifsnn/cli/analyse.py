"""``bifsnn analyse``: continue the reduced ODE in one parameter and verify every prediction."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
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
    from bifsnn.reduction.model import CLOSURES

    ana = subparsers.add_parser(
        "analyse",
        help="continue the reduced ODE in one parameter and verify it against the SNN",
        description="Equilibria of the reduced ODE along one network parameter (Hopf, fold, "
        "branch points), the cycle from the first Hopf point and the period-doubled cycle "
        "from its PD point, the Delta m diagrams of the SNN and the ODE, and every prediction "
        "checked against SNN and Markov-model runs with a verdict. Writes report.md, "
        "analysis.json and bifurcation_diagram.{png,pdf}. Exit code 0 only when every branch "
        "is complete and at least one prediction was checked; 1 when a branch stopped early or "
        "nothing was verifiable (no special point, no stable branch in the range).",
    )
    ana.add_argument("--params", type=Path, help="TOML file of network parameters")
    ana.add_argument("--set", dest="assignments", action="append", default=[],
                     metavar="NAME=VALUE", help="override one parameter (repeatable)")
    ana.add_argument("--param", default="p_EI", help="the parameter to continue in")
    ana.add_argument("--range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                     help="parameter range (default: the parameter's own default range)")
    ana.add_argument("--bin-rule", choices=("smooth", "reference"), default="smooth")
    ana.add_argument("--closure", choices=CLOSURES, default="paper",
                     help="closure of the reduced ODE (default: paper, the published "
                     "reduction; see docs/MODEL.md 5 and figures/fidelity_closures.md)")
    ana.add_argument("--full", action="store_true",
                     help="long version: 81 values, more seeds, 3 s runs, cycles from every "
                     "Hopf point over the whole range")
    ana.add_argument("--scan", type=int, help="number of Delta m diagram values (default 41)")
    ana.add_argument("--seeds", type=int, nargs="+", help="verification seeds (default 0 1 2)")
    ana.add_argument("--t-ms", type=float, help="simulated time per run, ms (default 1500)")
    ana.add_argument("--cycles", choices=("none", "first", "all"),
                     help="cycle branches from no / the first / every Hopf point")
    ana.add_argument("--workers", type=int, help="simulation processes (default 2)")
    ana.add_argument("--max-steps", type=int, help="equilibrium continuation steps")
    ana.add_argument("--out", type=Path, help="output directory. " + OUTPUT_POLICY)
    add_overwrite_argument(ana)
    ana.add_argument("--json", action="store_true", help="print the result as JSON")
    ana.add_argument("--no-plots", action="store_true")
    ana.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    ana.set_defaults(func=_cmd_analyse)


def _options(args: argparse.Namespace) -> Any:
    from bifsnn.analysis import AnalysisOptions

    o = AnalysisOptions.full() if args.full else AnalysisOptions()
    if args.scan is not None:
        o = replace(o, n_scan=args.scan)
    if args.seeds is not None:
        o = replace(o, verify=replace(o.verify, seeds=tuple(args.seeds)))
    if args.t_ms is not None:
        floor_ms = o.verify.transient_ms + 100.0
        if not args.t_ms > floor_ms:
            raise CliError("--t-ms", f"{args.t_ms:g} ms must exceed {floor_ms:g} ms (the "
                           f"{o.verify.transient_ms:g} ms transient excluded from every run, "
                           "plus 100 ms to measure)")
        o = replace(o, t_ms=args.t_ms)
    if args.cycles is not None:
        o = replace(o, cycles=args.cycles)
    if args.workers is not None:
        o = replace(o, workers=args.workers)
    if args.max_steps is not None:
        o = replace(o, max_steps=args.max_steps)
    o.validate()
    return o


def _cmd_analyse(args: argparse.Namespace) -> int:
    from bifsnn.analysis import analyse_network
    from bifsnn.analysis.network import check_range

    params = params_from_args(args)
    options = _options(args)
    check_range(params, args.param, args.range)  # errors before any work
    check_output_dir(args.out, overwrite=args.overwrite, expected_bytes=4 * 2**20)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0, c0 = time.perf_counter(), time.process_time()
    result = analyse_network(params, args.param, args.range, bin_rule=args.bin_rule,
                             closure=args.closure, options=options, log=log)
    if args.out is not None:
        before = listing(args.out)
        result.save(args.out, plots=not args.no_plots)
        record_run_files(args.out, listing(args.out) - before, "analyse")
    if log is not None:
        import resource

        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        log(f"done: {result.status}; wall {time.perf_counter() - t0:.1f} s, CPU "
            f"{time.process_time() - c0:.1f} s in this process + "
            f"{kids.ru_utime + kids.ru_stime:.1f} s in its worker processes")
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(result.report_markdown())
    return 0 if result.success else 1
