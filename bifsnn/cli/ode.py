"""``bifsnn ode``: run the reference map or the reduced ODE and report its observables."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bifsnn.cli.common import nonneg_float, positive_float, positive_int, seed_int

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``ode`` subcommand to the top-level CLI."""
    from bifsnn.cli.common import add_run_arguments
    from bifsnn.reduction.model import CLOSURES

    p = subparsers.add_parser(
        "ode",
        help="run the reduced model (reference map or ODE of the binned Markov model)",
        description="Run the reduced model of docs/MODEL.md section 5: the authors' "
        "reference map (--form map) or the ODE (--form ode) with an explicit or stiff "
        "integrator. Both are deterministic (no seed).",
    )
    p.add_argument("--form", choices=("map", "ode"), default="ode",
                   help="the reference map (one step per dt) or the ODE")
    p.add_argument("--bin-rule", choices=("reference", "smooth"), default=None,
                   help="within-bin density (default: reference for the map, smooth for the ODE)")
    p.add_argument("--outflow", choices=("clean", "published"), default="clean",
                   help="refractory outflow of the map: R h/tau_R or |(n_f - R'/tau_R) h|")
    p.add_argument("--integrator", choices=("explicit", "stiff"), default="explicit",
                   help="ODE: the compiled explicit Runge-Kutta integrator or scipy's stiff "
                   "solvers")
    p.add_argument("--method", choices=("BDF", "Radau", "LSODA"), default="LSODA",
                   help="scipy method of the stiff integrator")
    p.add_argument("--explicit-method", choices=("tsit5", "dopri5"), default=None,
                   help="Runge-Kutta pair of the explicit integrator: Tsitouras 5(4) (the "
                   "default) or Dormand-Prince 5(4)")
    p.add_argument("--rtol", type=positive_float, default=1e-5,
                   help="ODE: relative error tolerance (> 0)")
    p.add_argument("--atol", type=positive_float, default=1e-6,
                   help="ODE: absolute error tolerance (> 0)")
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="ODE, explicit integrator: step limit (default: 200 per model ms + "
                   "10000); a run cut by it reports so and keeps the partial result")
    p.add_argument("--dv", type=positive_float, default=4.0, help="bin width (voltage units)")
    p.add_argument("--v-min", type=float, default=-40.0, help="lowest bin edge")
    p.add_argument("--eps", type=positive_float, default=0.2,
                   help="smooth rule: smoothing of |s|")
    p.add_argument("--h-min", type=positive_float, default=0.02,
                   help="smooth rule: minimum half-width")
    p.add_argument("--delta", type=nonneg_float, default=None,
                   help="bin-mean regularisation (default: 0, i.e. exact A/n, for the map; "
                   "1e-3 for the ODE)")
    p.add_argument("--window-ms", type=positive_float, default=None,
                   help="window h, ms (default: dt)")
    p.add_argument("--closure", choices=CLOSURES, default="paper",
                   help="ODE closure: the published reduction ('paper'), per-bin conditional "
                   "means of the pending input ('conditional'), the pending input's variance as "
                   "coloured noise ('coloured'), or both ('conditional-coloured'), the coloured "
                   "correction weighted by the regime, full where neurons fire on fluctuations, "
                   "none where the mean drive carries them ('coloured-regime'), the "
                   "conditional means weighted so ('conditional-regime'), and 'paper' "
                   "/ 'coloured-regime' with a sloped within-bin density ('slope', "
                   "'coloured-regime-slope'); all but 'paper' for --form ode only, 'paper' "
                   "and 'coloured' with --finite-size-noise (docs/MODEL.md 5c-5g)")
    p.add_argument("--coupling", type=nonneg_float, default=1.0,
                   help="conditional closure: covariance coupling kappa (0 = the paper's "
                   "closure)")
    p.add_argument("--no-rate-lag", action="store_true",
                   help="map: drive the moments with this step's rate (Euler step of the ODE)")
    p.add_argument("--finite-size-noise", action="store_true",
                   help="ODE: add the sampling noise of N neurons (chemical Langevin SDE, "
                   "Euler-Maruyama, seeded by --seed)")
    p.add_argument("--sde-dt-ms", type=positive_float, default=0.01,
                   help="Euler-Maruyama step with --finite-size-noise (divides dt)")
    p.add_argument("--seed", type=seed_int, default=None,
                   help="random seed of --finite-size-noise, 0 <= seed < 2**64 (default 0); "
                   "refused without it, since the deterministic models use no random numbers")
    add_run_arguments(p, stochastic=False)
    p.set_defaults(func=_cmd_ode)


def _cmd_ode(args: argparse.Namespace) -> int:
    from bifsnn.cli.common import (
        CliError,
        check_output_dir,
        check_times,
        finish_run,
        params_from_args,
        result_output_bytes,
    )

    if args.finite_size_noise and args.form != "ode":
        raise CliError("--finite-size-noise", "applies only to --form ode")
    if args.seed is not None and not args.finite_size_noise:
        raise CliError("--seed", "applies only with --finite-size-noise")
    if args.closure != "paper" and args.form != "ode":
        raise CliError("--closure", f"{args.closure} applies only to --form ode (the map "
                       "exists for 'paper' only)")
    if args.finite_size_noise and args.closure not in ("paper", "coloured"):
        raise CliError("--closure", f"{args.closure} has no --finite-size-noise (the SDE "
                       "exists for 'paper' and 'coloured')")
    params = params_from_args(args)
    step_ms = args.window_ms if (args.form == "map" and args.window_ms) else params.dt
    check_times(args.t_ms, args.transient_ms, dt_ms=step_ms)
    if args.max_steps is not None and (args.form != "ode" or args.integrator != "explicit"):
        raise CliError("--max-steps", "applies only to --form ode --integrator explicit")
    if args.explicit_method is not None and (args.form != "ode" or args.integrator != "explicit"
                                             or args.finite_size_noise):
        raise CliError("--explicit-method", "applies only to --form ode --integrator explicit")
    from bifsnn.network._driver import check_memory

    check_memory(params, int(args.t_ms / step_ms) + 1)  # per-step arrays dominate
    check_output_dir(args.out, overwrite=args.overwrite,
                     expected_bytes=result_output_bytes(params, args.t_ms))

    from bifsnn.reduction.integrate import simulate_map, simulate_ode
    from bifsnn.reduction.model import MarkovModelDef

    rule = args.bin_rule or ("reference" if args.form == "map" else "smooth")
    definition = MarkovModelDef(
        params=params, dv=args.dv, v_min=args.v_min, bin_rule=rule, eps=args.eps,
        h_min=args.h_min,
        delta=args.delta if args.delta is not None else (0.0 if args.form == "map" else 1e-3),
        h=args.window_ms, outflow=args.outflow, closure=args.closure, coupling=args.coupling,
    )
    if args.finite_size_noise:
        from bifsnn.reduction.noise import simulate_sde

        result = simulate_sde(definition, t_ms=args.t_ms, seed=args.seed or 0,
                              dt_ms=args.sde_dt_ms)
    elif args.form == "map":
        result = simulate_map(definition, t_ms=args.t_ms, rate_lag=not args.no_rate_lag)
    else:
        result = simulate_ode(definition, t_ms=args.t_ms, integrator=args.integrator,
                              method=args.method, rtol=args.rtol, atol=args.atol,
                              max_steps=args.max_steps,
                              explicit_method=args.explicit_method or "tsit5")
    ok = result.options.get("success", True)
    if not ok:
        stop = (f"bifsnn ode: the {args.form} stopped early: "
                f"{result.options.get('message', 'no message')}")
        if result.duration_ms <= args.transient_ms:
            print(f"{stop}; nothing computed after the {args.transient_ms:g} ms transient, "
                  "so there is no summary", file=sys.stderr)
            return 1
        print(f"{stop}; the summary and files cover the {result.duration_ms:g} ms computed",
              file=sys.stderr)
    finish_run(result, args)
    return 0 if ok else 1
