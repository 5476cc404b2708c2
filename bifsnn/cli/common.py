"""Options and output writing shared by every subcommand that runs one model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bifsnn.network.params import NetworkParams

__all__ = ["add_run_arguments", "params_from_args", "finish_run"]


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
    from bifsnn.network.observables import summary

    info = summary(result, transient_ms=args.transient_ms)
    if args.out is not None:
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        result.save(out / "result.h5")
        from bifsnn._files import atomic_write_text

        atomic_write_text(out / "summary.json", json.dumps(info, indent=2) + "\n")
        result.params.save_toml(out / "params.toml")
        if not args.no_plots:
            from bifsnn.network.plots import standard_plots

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
