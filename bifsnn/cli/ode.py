"""``bifsnn ode``: run the reference map or the reduced ODE and report its observables."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``ode`` subcommand to the top-level CLI."""
    from bifsnn.cli.common import add_run_arguments
    from bifsnn.reduction.model import CLOSURES

    p = subparsers.add_parser(
        "ode",
        help="run the reduced model (reference map or ODE of the binned Markov model)",
        description="Run the reduced model of docs/MODEL.md section 5: the authors' reference map "
        "(--form map) or the ODE (--form ode) with an explicit or stiff integrator.",
    )
    p.add_argument("--form", choices=("map", "ode"), default="ode")
    p.add_argument("--bin-rule", choices=("reference", "smooth"), default=None,
                   help="within-bin density (default: reference for the map, smooth for the ODE)")
    p.add_argument("--outflow", choices=("clean", "published"), default="clean",
                   help="refractory outflow of the map: R h/tau_R or |(n_f - R'/tau_R) h|")
    p.add_argument("--integrator", choices=("explicit", "stiff"), default="explicit")
    p.add_argument("--method", choices=("BDF", "Radau", "LSODA"), default="LSODA",
                   help="scipy method of the stiff integrator")
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--atol", type=float, default=1e-8)
    p.add_argument("--dv", type=float, default=4.0, help="bin width")
    p.add_argument("--v-min", type=float, default=-40.0, help="lowest bin edge")
    p.add_argument("--eps", type=float, default=0.2, help="smooth rule: smoothing of |s|")
    p.add_argument("--h-min", type=float, default=0.02, help="smooth rule: minimum half-width")
    p.add_argument("--delta", type=float, default=None,
                   help="bin-mean regularisation (default: 0, i.e. exact A/n, for the map; "
                   "1e-3 for the ODE)")
    p.add_argument("--window-ms", type=float, default=None, help="window h (default: dt)")
    p.add_argument("--closure", choices=CLOSURES, default="paper",
                   help="ODE closure: the published reduction ('paper') or per-bin conditional "
                   "means of the pending input ('conditional'; ODE only)")
    p.add_argument("--coupling", type=float, default=1.0,
                   help="conditional closure: covariance coupling kappa (0 = the paper's "
                   "closure)")
    p.add_argument("--no-rate-lag", action="store_true",
                   help="map: drive the moments with this step's rate (Euler step of the ODE)")
    add_run_arguments(p)
    p.set_defaults(func=_cmd_ode)


def _cmd_ode(args: argparse.Namespace) -> int:
    from bifsnn.cli.common import finish_run, params_from_args
    from bifsnn.reduction.integrate import simulate_map, simulate_ode
    from bifsnn.reduction.model import MarkovModelDef

    if args.form == "map" and args.closure != "paper":
        raise SystemExit(f"bifsnn ode: --closure {args.closure} needs --form ode (the "
                         "reference map exists for the paper's closure only)")
    params = params_from_args(args)
    rule = args.bin_rule or ("reference" if args.form == "map" else "smooth")
    definition = MarkovModelDef(
        params=params, dv=args.dv, v_min=args.v_min, bin_rule=rule, eps=args.eps,
        h_min=args.h_min,
        delta=args.delta if args.delta is not None else (0.0 if args.form == "map" else 1e-3),
        h=args.window_ms, outflow=args.outflow, closure=args.closure, coupling=args.coupling,
    )
    if args.form == "map":
        result = simulate_map(definition, t_ms=args.t_ms, rate_lag=not args.no_rate_lag)
    else:
        result = simulate_ode(definition, t_ms=args.t_ms, integrator=args.integrator,
                              method=args.method, rtol=args.rtol, atol=args.atol)
    finish_run(result, args)
    return 0 if result.options.get("success", True) else 1
