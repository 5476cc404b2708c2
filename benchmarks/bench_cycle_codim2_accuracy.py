"""Accuracy of the periodic normal forms (PD coefficient c, NS coefficient d), the codim-2
points on cycle curves that use them (GPD on PD curves, CH on NS curves) and R1 on LPC
curves, and of the double-Hopf (HH) coefficients, against models with analytic answers.

Writes the section "## Cycle curves and double Hopf" of ``continuation_accuracy.md``
(replacing it if present; ``bench_continuation_accuracy.py`` keeps it when it rewrites the
file).  The models are the known-answer models of the tests
(``tests/continuation/test_cycle_normal_forms.py``, ``test_hh_normal_form.py``; the analytic
values are derived in their docstrings).
Usage: ``python3 benchmarks/bench_cycle_codim2_accuracy.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "continuation"))

from test_cycle_normal_forms import (  # noqa: E402
    BET,
    GAM,
    KAP,
    MU_STAR,
    NU_STAR,
    OM,
    OM2,
    T0,
    _branch,
    _cycle,
    _jac,
    ns_model,
    pd_model,
    r1_model,
)
from test_hh_normal_form import W1, W2, exact, hh_problem  # noqa: E402

from bifsnn.continuation import (  # noqa: E402
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_hopf,
)
from bifsnn.continuation.normal_forms import double_hopf_coefficients  # noqa: E402
from bifsnn.continuation.periodic import continue_lpc, continue_ns, continue_pd  # noqa: E402
from bifsnn.continuation.periodic.cycle_normal_forms import (  # noqa: E402
    ns_normal_form,
    pd_normal_form,
)

HEADER = "## Cycle curves and double Hopf"
ROWS: list[tuple] = []


def digits(val: float, ref: float) -> float:
    """-log10 of the relative error (absolute when ref = 0), capped at 16."""
    err = abs(val - ref) / (abs(ref) if ref != 0 else 1.0)
    return 16.0 if err == 0 else float(min(16.0, -math.log10(err)))


def row(problem: str, quantity: str, ref: float, how: str, mode: str, val: float) -> None:
    """One table row."""
    ROWS.append((problem, quantity, ref, how, mode, val, digits(val, ref)))


def fd_problem(pr: ODEProblem) -> ODEProblem:
    """The same model with f and its exact Jacobian only (B, C by Ridders' differences)."""
    return ODEProblem(pr.f, pr.x0, pr.p0, dfdx=pr.dfdx, param_names=pr.param_names)


def cycle_rows() -> None:
    """PD / NS coefficients at nu = 0.3 on two meshes, GPD / CH / R1 along curves."""
    nu = 0.3
    P = np.array([0.3 * nu - 0.2 * nu**2, nu])
    c_ref = (math.sin(nu) - 0.45 + GAM * BET) / T0
    pd, ns = pd_model(), ns_model()
    for ntst in (20, 40):
        for mode, pr in (("exact", pd), ("finite-difference", fd_problem(pd))):
            if mode != "exact" and ntst != 40:
                continue
            sysobj, sol = _cycle(pr, P, ntst)
            coll, J = _jac(sysobj, sol)
            r = pd_normal_form(pr, coll, sol.U, sol.T, P, J)
            row(f"PD cycle model (ntst {ntst}, ncol 4)", "PD c", c_ref,
                "analytic ((sin nu - 0.45 + GAM BET) / T)", mode, r["c"])
            row(f"PD cycle model (ntst {ntst}, ncol 4)", "PD a1", KAP / (OM * T0),
                "analytic (KAP / (OM T))", mode, r["a1"])
    theta = (OM2 * T0) % (2 * math.pi)
    for ntst in (20, 40, 80):
        for mode, pr in (("exact", ns), ("finite-difference", fd_problem(ns))):
            if mode != "exact" and ntst != 40:
                continue
            sysobj, sol = _cycle(pr, P, ntst)
            coll, J = _jac(sysobj, sol)
            r = ns_normal_form(pr, coll, sol.U, sol.T, P, J, theta)
            row(f"NS cycle model (ntst {ntst}, ncol 4)", "NS Re d", 2 * c_ref,
                "analytic (2 (sin nu - 0.45 + GAM BET) / T)", mode, r["d"].real)
    opts = dict(ds=0.05, ds_max=0.1, max_steps=40, direction=-1)
    br = _branch(pd, np.array([-0.2, 0.3]), 20)
    cur = continue_pd(br, br.points("PD")[0], "nu", ContinuationOptions(
        bounds={"nu": (-0.2, 0.4)}, **opts))
    g = cur.points("GPD")[0]
    row("PD cycle model (ntst 20)", "GPD mu", MU_STAR, "analytic", "exact", g.params[0])
    row("PD cycle model (ntst 20)", "GPD nu", NU_STAR, "analytic (asin 0.05)", "exact",
        g.params[1])
    br = _branch(ns, np.array([-0.2, 0.3]), 20)
    cur = continue_ns(br, br.points("NS")[0], "nu", ContinuationOptions(
        bounds={"nu": (-0.2, 0.4)}, **opts))
    ch = cur.points("CH")[0]
    row("NS cycle model (ntst 20)", "CH mu", MU_STAR, "analytic", "exact", ch.params[0])
    row("NS cycle model (ntst 20)", "CH nu", NU_STAR, "analytic (asin 0.05)", "exact",
        ch.params[1])
    r1 = r1_model()
    xs = (-0.5 + math.sqrt(0.25 + 0.8)) / 2
    br = _branch(r1, np.array([-0.2, 0.5]), 20, r2=1 + BET * xs,
                 T=2 * math.pi / (OM + KAP * xs), rest=(xs, 0.0))
    cur = continue_lpc(br, br.points("LPC")[0], "b2", ContinuationOptions(
        bounds={"b2": (-0.5, 0.6)}, **opts))
    p = cur.points("R1")[0]
    row("LPC cycle model, BT transverse (ntst 20)", "R1 b1", 0.0, "analytic", "exact",
        p.params[0])
    row("LPC cycle model, BT transverse (ntst 20)", "R1 b2", 0.0, "analytic", "exact",
        p.params[1])


def roessler_poincare_row() -> None:
    """Roessler (a = b = 0.2) at its first PD in c: -c T (the flow's PD coefficient) against
    the cubic coefficient of the Poincare map's normal form, from central differences of the
    map (DOP853, rtol 1e-13) on the section through x0(0) normal to f, in the coordinate of
    the projection of v1(0) onto it (Kuznetsov's map PD formula)."""
    from test_cycle_normal_forms import roessler_poincare

    r = roessler_poincare()
    row(f"Roessler (a = b = 0.2), PD at c = {r['c_pd']:.10g}", "PD -c T",
        r["map_c"], "Poincare-map normal form (differences of the map, ~5 digits)", "exact",
        -r["c"] * r["T"])


def hh_rows() -> None:
    """HH coefficients at the exact point and at the point located on a Hopf curve."""
    pr = hh_problem()
    ex = exact()
    x0, p0 = np.zeros(5), np.zeros(2)
    for mode, q in (("exact", pr), ("finite-difference", fd_problem(pr))):
        c = double_hopf_coefficients(None, x0, q.jac_x(x0, p0), W1, W2,
                                     forms=q.directional(x0, p0))
        for k in ("p11", "p12", "p21", "p22", "theta", "delta"):
            row("double-Hopf 5-D model", f"HH {k}", ex[k], "analytic (centre manifold)", mode,
                c[k])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.3))
    hc = continue_hopf(br, br.points("H")[0], "mu2", ContinuationOptions(
        ds=0.05, ds_max=0.1, max_steps=40, direction=-1, bounds={"mu2": (-0.3, 0.3)}))
    hh = hc.points("HH")[0]
    row("double-Hopf 5-D model", "HH mu2 (located)", 0.0, "analytic", "exact", hh.params[1])
    for k in ("theta", "delta"):
        row("double-Hopf 5-D model", f"HH {k} (located point)", ex[k], "analytic", "exact",
            hh.data[k])


def main() -> None:
    """Compute the rows and write the section."""
    out = Path(__file__).with_name("continuation_accuracy.md")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT).stdout.strip()
    t0 = time.process_time()
    cycle_rows()
    roessler_poincare_row()
    hh_rows()
    cpu = time.process_time() - t0
    lines = [HEADER, "",
             f"Made by `benchmarks/bench_cycle_codim2_accuracy.py` at commit {commit} (CPU "
             f"{cpu:.0f} s, machine shared with other jobs). Models and analytic answers: "
             "`tests/continuation/test_cycle_normal_forms.py` (a cycle r = 1 coupled to a "
             "Moebius-band PD part, an NS part, or a Bogdanov-Takens transverse part; the "
             "cubic coefficients follow from the centre manifold r^2 - 1 = BET q) and "
             "`test_hh_normal_form.py` (double-Hopf normal form with a slaved fifth variable, "
             "rotated by a random orthogonal matrix). PD c and NS d: Kuznetsov et al. (2005) "
             "periodic normal form, physical time, int_0^T |v1|^2 dt = 1. *finite-difference*: "
             "B and C by Ridders' differences of the exact Jacobian. digits as above.", "",
             "| problem | quantity | reference | how obtained | derivatives | engine | digits |",
             "|---|---|---|---|---|---|---|"]
    for prob, qty, ref, how, mode, val, dig in ROWS:
        lines.append(f"| {prob} | {qty} | {ref:.15g} | {how} | {mode} | {val:.15g} | "
                     f"{dig:.1f} |")
    fine = [r for r in ROWS if "ntst 20, ncol" not in r[0] and "Poincare" not in r[3]]
    lines += ["", "Fewest digits (coefficients on meshes of 40 or more intervals, every "
              "located point; the Roessler row is a cross-check limited by the differences "
              "of the Poincare map): " + ", ".join(
                  f"{md} {min(r[6] for r in fine if r[4] == md):.1f}"
                  for md in ("exact", "finite-difference")) + ". The NS coefficient converges "
              "like h^6 (the eigenfunction of the NS model turns 2.2 times per period): "
              "ntst 20 gives about 6 digits; the CH point located on that mesh still has "
              "11 digits.", ""]
    section = "\n".join(lines)
    text = out.read_text() if out.exists() else ""
    if HEADER in text:
        head, rest = text.split(HEADER, 1)
        nxt = rest.find("\n## ")
        text = head + section + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    out.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
