"""``bifsnn simulate``: run the spiking network or its Markov model."""

from __future__ import annotations

import argparse
from typing import Any

from bifsnn.cli.common import add_run_arguments, finish_run, params_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand to the top-level CLI."""
    sim = subparsers.add_parser("simulate", help="run the spiking network or its Markov model")
    sim.add_argument("--model", choices=("snn", "markov"), default="snn")
    sim.add_argument("--connectivity", choices=("annealed", "quenched"), default="annealed")
    sim.add_argument("--drive", choices=("gaussian", "poisson"), default="gaussian")
    sim.add_argument("--raster", action="store_true", help="record the spike raster")
    add_run_arguments(sim)
    sim.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if args.model == "snn":
        from bifsnn.network.snn import simulate_snn as run
    else:
        from bifsnn.network.markov import simulate_markov as run
    kwargs: dict[str, Any] = dict(
        t_ms=args.t_ms, seed=args.seed, progress=not args.no_progress,
        drive=args.drive,
    )
    if args.model == "snn":
        kwargs["connectivity"] = args.connectivity
    if args.raster:
        kwargs["raster_neurons"] = "all"
    result = run(params, **kwargs)
    finish_run(result, args)
    return 0
