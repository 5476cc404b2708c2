"""Exact higher derivatives of the reduced network model (issue 9): accuracy and cost.

The reduced ODE (paper closure, smooth rule, n = 148) now has exact second and third
directional derivatives: truncated Taylor series of f(x + t v) generated from the sympy
pieces (``bifsnn/reduction/taylor.py`` + ``_taylor_template_src.py``).  This script measures

1. codegen: CPU seconds to generate the Taylor module (sympy) and compile it (numba), in a
   fresh cache directory;
2. cost per call (CPU, same process, ratios to one f evaluation): f, the analytic Jacobian,
   one Taylor series, d2f(u, v), d3f(u, v, w), and one Ridders quadratic / cubic form on the
   analytic Jacobian (the route used before);
3. l1 at the Hopf points of the p_EI branch (tau_EE = 1.4 ms): exact vs Ridders, with the
   exact value's rounding noise (spread over 6 phases of the eigenvector q, which leaves l1
   unchanged in exact arithmetic) and Ridders' own error estimate;
4. the four Bautin (GH) points in (p_EI, tau_EE): located by Newton on [Hopf system; l1]
   from the regime map's values (figures/network_regime_map.md), three ways: exact
   derivatives (GH row scaled by max|x|^2, no noise floor: the code now), Ridders (same
   scaled row, floor 1e-8), and the code before (Ridders, unscaled l1 row, floor 1e-8); the
   exact l1 at every located point, the differences of the located parameters, and l2 there.

Run:  PYTHONPATH=. nice python3 benchmarks/bench_network_normal_forms.py [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

#: GH points of figures/network_regime_map.md (p_EI, tau_EE, omega): the Newton starts.
GH_TABLE = [(0.6956, 1.7279, 0.3525), (0.7226, 1.3883, 0.4977), (0.8633, 2.0171, 0.4528),
            (0.8921, 1.5292, 0.5062)]


def cpu(fun, repeat: int) -> float:
    """Mean CPU seconds of ``fun()`` over ``repeat`` calls."""
    t = time.process_time()
    for _ in range(repeat):
        fun()
    return (time.process_time() - t) / repeat


def digits(a: float, b: float) -> float:
    """Decimal digits to which a and b agree (capped at 16)."""
    d = abs(a - b) / max(abs(b), 1e-300)
    return 16.0 if d == 0 else min(16.0, -np.log10(d))


def codegen_section() -> list[str]:
    """Generation and compilation cost of the Taylor module in a fresh cache directory."""
    from bifsnn.reduction import codegen, taylor
    from bifsnn.reduction.problem import network_problem

    st = network_problem()  # the RHS module, from the normal cache
    old = os.environ.get("BIFSNN_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BIFSNN_CACHE_DIR"] = tmp
        try:
            t = time.process_time()
            taylor.taylor_functions("smooth")
            t_sym = time.process_time() - t
            codegen._LOADED.clear()
            t = time.process_time()
            mod = codegen.load_taylor("smooth")
            t_load = time.process_time() - t
            x = st.problem.x0
            t = time.process_time()
            st.model.taylor_series(x, np.ones((1, x.size)))
            t_first = time.process_time() - t
            lines = sum(1 for _ in open(mod.__file__))
        finally:
            if old is None:
                os.environ.pop("BIFSNN_CACHE_DIR")
            else:
                os.environ["BIFSNN_CACHE_DIR"] = old
            codegen._LOADED.clear()
    return ["## Code generation (fresh cache directory)", "",
            f"- sympy Taylor pieces alone: {t_sym:.1f} s CPU",
            f"- load_taylor (sympy + write + import): {t_load:.1f} s CPU; generated module "
            f"{lines} lines",
            f"- first call (numba compilation): {t_first:.1f} s CPU",
            "- later processes: the module and numba's cache are reused (no sympy, no "
            "compilation)", ""]


def cost_section(st) -> list[str]:
    """CPU per call of f, J, one series, d2f, d3f and the Ridders forms."""
    from bifsnn.continuation.derivatives import DirectionalDerivatives

    pr = st.problem
    x, p = pr.x0, pr.p0
    rng = np.random.default_rng(0)
    u, v, w = (rng.standard_normal(x.size) for _ in range(3))
    pr_r = replace(pr, d2f=None, d3f=None)
    st.model.taylor_series(x, u[None, :])  # warm
    rows = [("f(x, p)", cpu(lambda: pr.f(x, p), 300)),
            ("analytic Jacobian", cpu(lambda: pr.dfdx(x, p), 60)),
            ("one Taylor series (order 3)", cpu(lambda: st.model.taylor_series(x, u[None, :]),
                                                60)),
            ("exact d2f(u, v) (2 series)", cpu(lambda: pr.d2f(x, p, u, v), 30)),
            ("exact d3f(u, v, w) (4 series)", cpu(lambda: pr.d3f(x, p, u, v, w), 20)),
            ("Ridders Q(v) = D2f[v, v] on J (before)",
             cpu(lambda: DirectionalDerivatives(pr_r, x, p).quad(v), 5)),
            ("Ridders K(v) = D3f[v, v, v] on J (before)",
             cpu(lambda: DirectionalDerivatives(pr_r, x, p).cubic(v), 5))]
    t_f = rows[0][1]
    out = ["## Cost per call (CPU, same process)", "",
           "| evaluation | us per call | / f |", "|---|---|---|"]
    out += [f"| {name} | {t * 1e6:.0f} | {t / t_f:.1f} |" for name, t in rows]
    return out + [""]


def l1_section(st) -> tuple[list[str], list]:
    """l1 at the Hopf points of the p_EI branch, exact vs Ridders."""
    from bifsnn.continuation import continue_equilibria
    from bifsnn.continuation.normal_forms import critical_eigenvectors, first_lyapunov

    pr = st.problem
    pr_r = replace(pr, d2f=None, d3f=None)
    opts = st.options(p_min=0.3, p_max=1.0, max_steps=1000, compute_l1=False)
    hs = []
    for d in (-1, 1):
        hs += continue_equilibria(pr, opts.with_(direction=d)).points("H")
    hs.sort(key=lambda h: h.param)
    out = ["## l1 at the Hopf points of the p_EI branch (tau_EE = 1.4 ms)", "",
           "noise: spread of the exact l1 over 6 phases of q (invariant in exact arithmetic); "
           "est.: Ridders' own error estimate (max over its forms, absolute on the form).", "",
           "| p_EI | l1 exact | noise (rel) | l1 Ridders | digits agreeing | est. | CPU ms "
           "exact | CPU ms Ridders |", "|---|---|---|---|---|---|---|---|"]
    for h in hs:
        x, p, om = h.x, h.p, h.data["omega"]
        J = pr.jac_x(x, p)
        q, pa = critical_eigenvectors(J, 1j * om)
        vals = []
        for k in range(6):
            ph = np.exp(1j * k)
            vals.append(first_lyapunov(None, x, J, om, ph * q, ph * pa,
                                       forms=pr.directional(x, p)))
        le = vals[0]
        noise = (max(vals) - min(vals)) / abs(le)
        fr = pr_r.directional(x, p)
        lr = first_lyapunov(None, x, J, om, q, pa, forms=fr)
        def l1_with(prob, x=x, p=p, J=J, om=om, q=q, pa=pa):
            return first_lyapunov(None, x, J, om, q, pa, forms=prob.directional(x, p))

        te = cpu(lambda: l1_with(pr), 3)
        tr = cpu(lambda: l1_with(pr_r), 2)
        out.append(f"| {h.param:.10f} | {le:.12e} | {noise:.1e} | {lr:.12e} | "
                   f"{digits(lr, le):.1f} | {fr.error:.1e} | {te * 1e3:.0f} | {tr * 1e3:.0f} |")
    return out + [""], hs


def _locate(pr, x, p, omega, free, how: str):
    """GH by Newton from (x, p, omega): 'exact' / 'ridders' (the code now) or 'before'."""
    from bifsnn.continuation import codim2
    from bifsnn.continuation.linalg import newton

    system = codim2.HopfSystem(pr, free, x, p, omega)
    u0 = system.u_of(x, p, omega)
    t = time.process_time()
    if how == "before":  # unscaled l1 row, tolerance floor 1e-8 (the previous locate_codim2)
        def H(u):
            return np.r_[system.G(u), system.test_value(u, "GH")]

        def dH(u):
            g = codim2._test_gradient(system, u, "GH", "tangent", None)
            return codim2._vstack(system.dG(u), g[None, :])

        u, ok, it, res = newton(H, dH, u0, tol=1e-8, max_iter=20)
    else:
        u, ok, it, res = codim2.locate_codim2(system, u0, "GH")
    return system, u, ok, it, res, time.process_time() - t


def gh_section() -> list[str]:
    """The four Bautin points in (p_EI, tau_EE), three ways, and l2 there."""
    from bifsnn.continuation.normal_forms import second_lyapunov
    from bifsnn.network.params import NetworkParams
    from bifsnn.reduction.problem import network_problem

    out = ["## Bautin (GH) points in (p_EI, tau_EE)", "",
           "Newton on [Hopf system; l1] from the regime-map values. *exact*: exact "
           "derivatives, GH row scaled by max|x|^2, no noise floor (the code now); *Ridders*: "
           "same scaled row, floor 1e-8; *before*: Ridders, unscaled l1 row, floor 1e-8 (the "
           "previous code). l1 (exact) is the exact l1 evaluated at the located point: how "
           "far from a true zero each route stops (l1 ranges over ~1e-7 along the curve).", "",
           "| start (p_EI, tau_EE) | route | converged, iterations | p_EI | tau_EE | l1 (exact) "
           "at the point | CPU s |", "|---|---|---|---|---|---|---|"]
    l2_rows = []
    for p0, t0, om in GH_TABLE:
        st = network_problem(NetworkParams().replace(p_EI=p0, tau_EE=t0), "p_EI")
        pr = st.problem
        free = (pr.param_index("p_EI"), pr.param_index("tau_EE"))
        pr_r = replace(pr, d2f=None, d3f=None)
        got = {}
        for how, prob in (("exact", pr), ("Ridders", pr_r), ("before", pr_r)):
            system, u, ok, it, res, t = _locate(prob, st.equilibrium.x, pr.p0, om, free,
                                                how if how == "before" else "now")
            xg, pg = system.split(u)
            sys_e = replace_problem(system, pr)
            l1e = sys_e.l1(u)
            got[how] = (u, pg)
            out.append(f"| ({p0}, {t0}) | {how} | {ok}, {it} | {pg[free[0]]:.12f} | "
                       f"{pg[free[1]]:.12f} | {l1e:.2e} | {t:.1f} |")
            if how == "exact":
                J = pr.jac_x(xg, pg)
                q, pa = sys_e.eigenvectors(u)
                w = float(u[-1])
                if w < 0:
                    q, pa, w = np.conj(q), np.conj(pa), -w
                t_l2 = time.process_time()
                r = second_lyapunov(xg, J, w, q, pa, pr.directional(xg, pg))
                l2_rows.append((pg[free[0]], pg[free[1]], w, r["l2"], r["derivative_error"],
                                time.process_time() - t_l2))
        pe = got["exact"][1]
        for how in ("Ridders", "before"):
            d = np.abs(got[how][1][list(free)] - pe[list(free)])
            out.append(f"| | {how} - exact | | {d[0]:.1e} | {d[1]:.1e} | | |")
    out += ["", "l2 at the exactly located GH points (exact d3f; fourth and fifth "
            "derivatives by Ridders' differences of it; est.: Ridders' error estimate):", "",
            "| p_EI | tau_EE | omega | l2 | est. | CPU s |", "|---|---|---|---|---|---|"]
    out += [f"| {a:.10f} | {b:.10f} | {w:.6f} | {l2:.6e} | {e:.1e} | {t:.1f} |"
            for a, b, w, l2, e, t in l2_rows]
    return out + [""]


def replace_problem(system, pr):
    """The same Hopf system (borders) evaluating with problem ``pr``."""
    s2 = type(system).__new__(type(system))
    s2.__dict__.update(system.__dict__)
    s2.problem = pr
    s2._key = None
    return s2


def main() -> None:
    """Measure and write the markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("network_normal_forms.md")))
    args = ap.parse_args()
    from bifsnn.reduction.problem import network_problem

    t0 = time.process_time()
    load = os.getloadavg()[0]
    lines = ["# Exact higher derivatives of the reduced network model", "",
             "Generated by `benchmarks/bench_network_normal_forms.py`. Times are CPU seconds "
             f"in one process; load average at the start {load:.1f} on 2 cores (shared).", ""]
    lines += codegen_section()
    st = network_problem()
    lines += cost_section(st)
    l1_lines, _ = l1_section(st)
    lines += l1_lines
    lines += gh_section()
    lines += [f"Total CPU {time.process_time() - t0:.0f} s.", ""]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
