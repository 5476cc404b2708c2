"""``bifsnn simulate``: run the spiking network or its Markov model."""

from __future__ import annotations

import argparse
from typing import Any

from bifsnn.cli.common import (
    CliError,
    add_run_arguments,
    check_output_dir,
    check_times,
    finish_run,
    params_from_args,
    positive_int,
    result_output_bytes,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand to the top-level CLI."""
    sim = subparsers.add_parser(
        "simulate", help="run the spiking network or its Markov model",
        description="Simulate the spiking E-I network (--model snn) or its neuron-level "
        "Markov approximation (--model markov) and report rates, synchrony (SSI), MFE peaks "
        "and the spectral peak after the transient.",
    )
    sim.add_argument("--model", choices=("snn", "markov"), default="snn",
                     help="spiking network or its Markov approximation")
    sim.add_argument("--connectivity", choices=("annealed", "quenched"), default="annealed",
                     help="snn only: fresh random connections at every spike (annealed) or "
                     "one fixed connection matrix (quenched)")
    sim.add_argument("--drive", choices=("gaussian", "poisson"), default="gaussian",
                     help="external drive per step: Gaussian with mean = variance = "
                     "lambda_ext dt, or exact Poisson")
    sim.add_argument("--parallel", action="store_true",
                     help="snn only: the block-partitioned multi-threaded kernel (output "
                     "depends on the seed, not on the thread count; worth it from N ~ 10^4)")
    sim.add_argument("--threads", type=positive_int, default=None, metavar="K",
                     help="snn only, implies --parallel: run on K threads, 1 <= K <= "
                     "NUMBA_NUM_THREADS (default: numba's current thread count)")
    sim.add_argument("--raster", action="store_true",
                     help="record the spike raster of every neuron (raster plot in --out)")
    add_run_arguments(sim)
    sim.set_defaults(func=_cmd_simulate)


def _check_parallel(args: argparse.Namespace) -> None:
    """Raise CliError for --parallel/--threads with the Markov model or a bad thread count."""
    import numba

    if args.model != "snn" and (args.parallel or args.threads is not None):
        raise CliError("--parallel" if args.parallel else "--threads",
                       "only allowed with --model snn")
    limit = numba.config.NUMBA_NUM_THREADS
    if args.threads is not None and args.threads > limit:
        raise CliError("--threads", f"{args.threads} is out of range: must be an integer in "
                       f"[1, {limit}] (NUMBA_NUM_THREADS)")


def _cmd_simulate(args: argparse.Namespace) -> int:
    _check_parallel(args)
    params = params_from_args(args)
    check_times(args.t_ms, args.transient_ms, dt_ms=params.dt)
    n_raster = params.N_E + params.N_I if args.raster else 0
    from bifsnn.network._driver import check_memory, n_steps_for

    check_memory(params, n_steps_for(params, args.t_ms), n_raster=n_raster,
                 quenched=args.model == "snn" and args.connectivity == "quenched")
    check_output_dir(args.out, overwrite=args.overwrite,
                     expected_bytes=result_output_bytes(params, args.t_ms, n_raster=n_raster))
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
        if args.parallel or args.threads is not None:
            kwargs["parallel"] = True
            kwargs["threads"] = args.threads
    if args.raster:
        kwargs["raster_neurons"] = "all"
    result = run(params, **kwargs)
    finish_run(result, args)
    return 0
