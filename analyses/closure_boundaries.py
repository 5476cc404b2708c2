"""Regime boundaries of each closure of the reduced ODE against the SNN's own transitions
(issue 11: within 0.02 in p_EI and 0.2 ms in tau_EE).

Per closure (``--closures``), from the default equilibrium:

* equilibria in p_EI over [0.4, 1.0] (tau_EE = 1.4 ms, both directions): the Hopf points;
* cycles from the first Hopf point in p_EI (collocation, ntst 20, up to ``--cycle-steps``
  steps, as ``bifsnn analyse`` does): the first ALT point (the stable cycle's alternation
  multiplier crosses mu* = -0.5, where noisy peak heights have the alternation index 0.75
  the SNN's onset is read at; located as the verification layer does,
  :func:`bifsnn.analysis.verify.locate_multiplier_crossings`) and, beside it, the first
  period-doubling (PD) point (mu = -1);
* equilibria in tau_EE over [1.0, 4.0] ms: the Hopf points.

The SNN's transitions are those the verification layer located and stored in its figures
(the "Boundaries" tables of ``figures/bifurcation_p_EI.md`` and ``figures/bifurcation_tau_EE.md``,
written by ``bifsnn analyse`` / ``analyses/bifurcation_diagrams.py``): they are read from there
at run time (:func:`snn_transitions`), so a re-verification updates them.  At commit 10d1101:
synchrony onset in p_EI 0.5081 [0.4964, 0.5199], alternation (period-2) onset 0.7534
[0.7419, 0.765], no synchrony offset in [0.88, 1] (synchrony up to p_EI = 1); synchrony offset
in tau_EE 2.47 [2.406, 2.534] ms (read, not assumed: the alternation onset is 0.749
[0.7305, 0.7676] since the verification compares it with the ALT point).  The alternation
distance is the first ALT point's (like for like), not the PD's.  CPU seconds per closure
are printed (the machine is shared).

Usage: ``nice -n 10 python analyses/closure_boundaries.py --closures paper coloured
[--no-cycles] [--out figures/fidelity_boundaries.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

FIGURES = Path(__file__).resolve().parent.parent / "figures"
#: Noisy peak heights cross the SNN's alternation threshold where a cycle's multiplier
#: crosses 1 - 2 * 0.75 = -0.5 (:func:`bifsnn.analysis.verify.alternation_multiplier`);
#: ALT points are located to this accuracy in p_EI (else reported unconfirmed).
ALT_THRESHOLD = 0.75
ALT_TOL = 0.005
#: Where the verification layer stores the SNN's transitions, and which rows to read:
#: (figure, kind in its "Boundaries" table, key used here).
SNN_SOURCES = (("bifurcation_p_EI.md", "synchrony_onset", "p_EI_hopf_first"),
               ("bifurcation_p_EI.md", "alternation_onset", "p_EI_alt_first"),
               ("bifurcation_p_EI.md", "synchrony_offset", "p_EI_hopf_last"),
               ("bifurcation_tau_EE.md", "synchrony_offset", "tau_EE_hopf"))


def snn_transitions(figures: Path = FIGURES) -> dict[str, Any]:
    """The SNN's transitions from the verification figures' "Boundaries" tables: per key of
    :data:`SNN_SOURCES` {"value", "interval", "source"} (value None where the SNN has no
    crossing in the searched range; the interval then says where it searched)."""
    out: dict[str, Any] = {}
    for fig, kind, key in SNN_SOURCES:
        path = figures / fig
        rows = [line.split("|")[1:-1] for line in path.read_text().splitlines()
                if line.startswith(f"| {kind} |")]
        if len(rows) != 1:
            raise ValueError(f"{path}: expected one '{kind}' row in its Boundaries table, "
                             f"found {len(rows)}")
        # | kind | ODE point | ODE value | SNN value | SNN interval | ...
        snn, interval = rows[0][3].strip(), rows[0][4].strip()
        value = None if snn in ("–", "-", "") else float(snn)
        out[key] = {"value": value, "interval": interval, "source": f"figures/{fig}"}
    return out


def _eq_hopfs(model: Any, param: str, lo: float, hi: float, x0: Any) -> tuple[list, list]:
    from bifsnn.continuation import ContinuationOptions, continue_equilibria

    p = model.definition.params
    scale = p.N_E + p.N_I
    problem = model.ode_problem(param, x0=x0)
    branches, hopf = [], set()
    for direction in (+1, -1):
        opts = ContinuationOptions(ds=0.005 * scale, ds_max=0.05 * scale, ds_min=1e-8 * scale,
                                   p_min=lo, p_max=hi, max_steps=400, direction=direction)
        br = continue_equilibria(problem, opts)
        branches.append(br)
        hopf |= {round(float(sp.param), 4) for sp in br.points("H")}
    return sorted(hopf), branches


def alt_points(cb: Any) -> list[dict[str, Any]]:
    """ALT points of a stable period-1 cycle branch: where its alternation multiplier
    (:func:`bifsnn.analysis.branches.alternation_multiplier_of`) crosses mu* between stable
    rows, as the verification layer locates them (value, halfwidth, confirmed, note)."""
    import numpy as np

    from bifsnn.analysis.branches import alternation_multiplier_of
    from bifsnn.analysis.verify import alternation_multiplier, locate_multiplier_crossings

    mu_star = alternation_multiplier(ALT_THRESHOLD)
    triv = cb.extra.get("trivial_error", np.full(len(cb), np.nan))
    mu = np.array([alternation_multiplier_of(cb.multipliers[j], triv[j], mu_star)
                   for j in range(len(cb))])
    found = [{k: c[k] for k in ("value", "halfwidth", "confirmed", "note")}
             for c in locate_multiplier_crossings(cb.param_values, mu, cb.stable, mu_star,
                                                  ALT_TOL) if c["alternation_above"]]
    return sorted(found, key=lambda c: c["value"])


def boundaries(closure: str, cycles: bool, cycle_steps: int) -> dict[str, Any]:
    """Hopf, ALT and PD points of one closure (see the module docstring), with CPU seconds."""
    from bifsnn import NetworkParams
    from bifsnn.continuation import Collocation, ContinuationOptions, continue_cycles
    from bifsnn.continuation.periodic import CYCLE_DEFAULTS
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    out: dict[str, Any] = {"closure": closure}
    t0 = time.process_time()
    name, *extra = closure.split("+")  # "+field=value": numeric fields (as fidelity.py)
    kw = {k: float(v) for k, v in (e.split("=") for e in extra)}
    m = MarkovModelDef(params=NetworkParams(), closure=name, **kw).compile()
    eq = find_equilibrium(m)
    out["p_EI_hopf"], eqs = _eq_hopfs(m, "p_EI", 0.4, 1.0, eq.x)
    out["cpu_p_EI_s"] = time.process_time() - t0
    t0 = time.process_time()
    out["tau_EE_hopf"], _ = _eq_hopfs(m, "tau_EE", 1.0, 4.0, eq.x)
    out["cpu_tau_EE_s"] = time.process_time() - t0
    out["p_EI_pd"] = []
    if cycles and out["p_EI_hopf"]:
        t0 = time.process_time()
        first = min(((br, sp) for br in eqs for sp in br.points("H")),
                    key=lambda t: t[1].param)
        opts = ContinuationOptions(**{**CYCLE_DEFAULTS, "ds": 0.1, "ds_max": 2.0,
                                      "max_steps": cycle_steps, "p_min": 0.4, "p_max": 1.0,
                                      "direction": 1})
        try:
            cb = continue_cycles(first[0], first[1], opts, Collocation(ntst=20, ncol=4))
            out["p_EI_pd"] = sorted(round(float(sp.param), 4) for sp in cb.points("PD"))
            out["p_EI_alt"] = alt_points(cb)
            out["p_EI_lpc"] = sorted(round(float(sp.param), 4) for sp in cb.points("LPC"))
            out["cycle_range"] = [float(min(cb.param_values)), float(max(cb.param_values))]
            out["cycle_message"] = cb.message
        except Exception as exc:  # report, do not hide: the row says why there is no PD
            out["cycle_message"] = f"{type(exc).__name__}: {exc}"
        out["cpu_cycles_s"] = time.process_time() - t0
    return out


def distances(row: dict[str, Any], snn: dict[str, Any]) -> dict[str, float | None]:
    """|closure - SNN| for the first Hopf and first ALT point in p_EI (the alternation onset,
    like for like; an unconfirmed ALT point counts as none) and the tau_EE Hopf point nearest
    the SNN's (None where either side has no value)."""
    def dist(values: list[float], key: str, nearest: bool) -> float | None:
        ref = snn[key]["value"]
        if ref is None or not values:
            return None
        return round(min(abs(v - ref) for v in values) if nearest else abs(values[0] - ref), 4)

    return {"p_EI_hopf_first": dist(row.get("p_EI_hopf", []), "p_EI_hopf_first", False),
            "p_EI_alt_first": dist([a["value"] for a in row.get("p_EI_alt", [])
                                    if a["confirmed"]][:1], "p_EI_alt_first", False),
            "tau_EE_hopf": dist(row.get("tau_EE_hopf", []), "tau_EE_hopf", True)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closures", nargs="+", default=["paper"])
    ap.add_argument("--no-cycles", action="store_true", help="skip the PD search")
    ap.add_argument("--cycle-steps", type=int, default=80)
    ap.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.cycle_steps < 1:
        ap.error(f"--cycle-steps = {args.cycle_steps} must be >= 1")
    rows = []
    snn = snn_transitions()
    print(f"SNN (verification layer): {json.dumps(snn)}")
    for cl in args.closures:
        r = boundaries(cl, not args.no_cycles, args.cycle_steps)
        r["distance_to_snn"] = distances(r, snn)
        rows.append(r)
        print(json.dumps(r), flush=True)
    if args.out:
        from bifsnn.network.results import atomic_write_text

        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        old.update({r["closure"]: r for r in rows})
        atomic_write_text(args.out, json.dumps(old, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
