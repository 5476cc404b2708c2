"""Command-line interface: ``bifsnn simulate|ode|sweep|...``.

Subcommands living in other subpackages register themselves through a ``register(subparsers)``
function in their ``cli`` module (see ``_PLUGIN_MODULES``); the shared run options
(``--params``, ``--set``, ``--t-ms``, ``--seed``, ``--out``, ``--json``) and the output writing
are defined once here and reused by every model kind.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bifsnn.params import NetworkParams, ParameterError

__all__ = ["main", "add_run_arguments", "params_from_args", "finish_run"]

#: Modules that contribute subcommands via ``register(subparsers)``.
_PLUGIN_MODULES = (
    "bifsnn.reduction.cli",
    "bifsnn.continuation.cli",
    "bifsnn.sweeps.cli",
)


def add_run_arguments(parser: argparse.ArgumentParser, *, default_t_ms: float = 1000.0) -> None:
    """Options shared by every command that runs one model and reports its observables."""
    parser.add_argument("--params", type=Path, help="TOML file of network parameters")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
        help="override one parameter (repeatable), e.g. --set p_EI=0.5",
    )
    parser.add_argument("--t-ms", type=float, default=default_t_ms, help="model time, ms")
    parser.add_argument("--transient-ms", type=float, default=100.0,
                        help="initial transient excluded from the summary, ms")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, help="output directory (result file and plots)")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary of the observables to stdout")
    parser.add_argument("--no-plots", action="store_true", help="do not write plots to --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def params_from_args(args: argparse.Namespace) -> NetworkParams:
    """Network parameters from ``--params`` (or the defaults) with ``--set`` overrides."""
    params = NetworkParams.load_toml(args.params) if args.params else NetworkParams()
    return params.with_assignments(args.assignments)


def finish_run(result: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Write the result file and plots to ``--out`` and print the JSON summary if asked."""
    from bifsnn.observables import summary

    info = summary(result, transient_ms=args.transient_ms)
    if args.out is not None:
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        result.save(out / "result.h5")
        from bifsnn._files import atomic_write_text

        atomic_write_text(out / "summary.json", json.dumps(info, indent=2) + "\n")
        result.params.save_toml(out / "params.toml")
        if not args.no_plots:
            from bifsnn.plots import standard_plots

            standard_plots(result, out, transient_ms=args.transient_ms)
    if args.json:
        print(json.dumps(info))
    elif args.out is None:
        print(_human_summary(info))
    return info


def _human_summary(info: dict[str, Any]) -> str:
    keys = ("rate_e_hz", "rate_i_hz", "ssi_e", "ssi_i", "spectral_peak_hz")
    parts = [f"{k} = {info[k]:.4g}" for k in keys if isinstance(info.get(k), int | float)]
    parts.append(f"n_peaks = {len(info.get('peak_heights', []))}")
    return ", ".join(parts)


def _cmd_simulate(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    if args.model == "snn":
        from bifsnn.snn import simulate_snn as run
    else:
        from bifsnn.markov import simulate_markov as run
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


def _cmd_analyse(args: argparse.Namespace) -> int:
    from bifsnn.analysis import analyse_network

    params = params_from_args(args)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    result = analyse_network(
        params, args.param, tuple(args.range), bin_rule=args.bin_rule, n_verify=args.verify,
        seeds=tuple(args.seeds), t_ms=args.t_ms, with_cycles=args.cycles,
        max_steps=args.max_steps, log=log,
    )
    if args.out is not None:
        result.save(args.out, plots=not args.no_plots)
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        print(result.report_markdown())
    return 0 if result.success else 1


def _build_parser() -> argparse.ArgumentParser:
    from bifsnn._version import __version__

    parser = argparse.ArgumentParser(
        prog="bifsnn",
        description="Spiking E-I networks, their Markov reduction to ODEs, and bifurcations.",
    )
    parser.add_argument("--version", action="version", version=f"bifsnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run the spiking network or its Markov model")
    sim.add_argument("--model", choices=("snn", "markov"), default="snn")
    sim.add_argument("--connectivity", choices=("annealed", "quenched"), default="annealed")
    sim.add_argument("--drive", choices=("gaussian", "poisson"), default="gaussian")
    sim.add_argument("--raster", action="store_true", help="record the spike raster")
    add_run_arguments(sim)
    sim.set_defaults(func=_cmd_simulate)

    ana = sub.add_parser(
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
    ana.add_argument("--out", type=Path, help="output directory")
    ana.add_argument("--json", action="store_true", help="print the result as JSON")
    ana.add_argument("--no-plots", action="store_true")
    ana.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    ana.set_defaults(func=_cmd_analyse)

    for name in _PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # subpackage not present in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ParameterError as exc:
        print(f"bifsnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
