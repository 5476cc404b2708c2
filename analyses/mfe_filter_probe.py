"""A frequency-dependent response of the conditional offsets (issue 11, branch closure13).

closure12's "conditional-slow" (branch closure12, not merged) mixes each pending total's rate
as dB/dt = F + gamma (f - F) (f: 5c's rate, F: the follow rate with the offsets held), which
slows the offsets' whole response.  Here the offsets' own rate D = f - F goes through a
first-order filter whose static gain is 1 and whose gain at high frequency is a:

    dB/dt = F + a D + (1 - a) u,      du/dt = r (D - u),

u one extra variable per pending total (4K), u = 0 at every equilibrium, so the equilibria are
5c's; a = 1 or r -> infinity is 5c, r -> 0 is "conditional-slow" with gamma = a.  The gain at
angular frequency w is a + (1 - a) r / (r + i w).

Parts:
* ``linear``: leading oscillatory eigenvalue of the augmented Jacobian
  [[J0 + a (J1 - J0), (1 - a) E], [r (J1 - J0)_B, -r I]] at 5c's equilibria (J1: 5c's
  Jacobian, J0: the follow Jacobian, :func:`follow_jacobian`): tau_EE 1.8-3.0 at
  p_EI 0.8 (the tau_EE Hopf), p_EI 0.86-1.0 at tau_EE 1.4 (the last p_EI Hopf);
* ``grid``: the fidelity grid scored from such runs (see :func:`grid`);
* ``run``: time runs of the filtered model from the SNN's initial state (scipy RK45, rtol
  1e-5, atol 1e-6, as the explicit integrator's tolerances; 1600 ms, rates averaged after
  300 ms, the benchmark's rule) at the cells where "conditional-slow" reaches the slow
  oversized cycle (p_EI 0.8-1.0, tau_EE 1.2-1.4), printing E / I rates, the dominant
  frequency of the E rate and its peak-to-mean ratio.

Usage: ``nice -n 10 python analyses/mfe_filter_probe.py linear [--ar 0.2,0.1 ...]``,
``nice -n 10 python analyses/mfe_filter_probe.py run --ar 0.2,0.1 [--cells 0.95,1.4 ...]``,
``nice -n 10 python analyses/mfe_filter_probe.py grid --ar 0.3,0.1``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.params import PATHWAYS
from bifsnn.reduction import MarkovModelDef, find_equilibrium

DEFAULT_AR = ("1,1", "0.2,0", "0.5,0.1", "0.3,0.1", "0.2,0.1", "0.2,0.2", "0.2,0.3", "0,0.1",
              "0,0.2", "0,0.3")
RUN_CELLS = ("0.8,1.2", "0.9,1.2", "0.95,1.2", "0.95,1.4", "1.0,1.2", "0.9,1.4", "0.8,2.0")


def _model(p_EI: float, tau_EE: float):
    d = MarkovModelDef(params=NetworkParams().replace(p_EI=p_EI, tau_EE=tau_EE),
                       closure="conditional")
    return d, d.compile()


def b_rows(d: MarkovModelDef) -> np.ndarray:
    """State indices of the 4K pending totals B (pathway by pathway)."""
    return np.concatenate([np.arange(d.n_state)[d.slice_pending(pw)] for pw in PATHWAYS])


def _cond_mean(n, B, m, delta):
    """The regularised conditional mean H = m + (B - n m) n / (n^2 + delta^2) of MODEL.md 5c."""
    return m + (B - n * m) * n / (n ** 2 + delta ** 2)


def follow_rate(d: MarkovModelDef, x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The B rows of the follow rate F (closure12's "conditional-slow" with gamma = 0): each
    pending total B_j moves with its offset H_j - m held, F_j = H_j dn_j/dt + n_j mu,
    mu = dm/dt - sum_l (H_l - H_R) dn_l/dt / N (H_R: the reset share's), so that sum B + B_R
    = N m is kept; f is 5c's right-hand side at x.  Returned in the order of :func:`b_rows`."""
    out = []
    for pw in PATHWAYS:
        sb, sn, im = d.slice_pending(pw), d.slice("n", pw[0]), d.moment_index("m", pw)
        n, B, m, N = x[sn], x[sb], x[im], d.params.N(pw[0])
        H = _cond_mean(n, B, m, d.delta)
        HR = _cond_mean(N - n.sum(), N * m - B.sum(), m, d.delta)
        mu = f[im] - ((H - HR) * f[sn]).sum() / N
        out.append(H * f[sn] + n * mu)
    return np.concatenate(out)


def follow_jacobian(d: MarkovModelDef, x: np.ndarray, J1: np.ndarray) -> np.ndarray:
    """Jacobian J0 of the right-hand side with the B rows replaced by the follow rate, at an
    equilibrium x (f = 0 there, so the terms f_n dH/dx vanish): B rows H J_n + n dmu/dx."""
    J0 = J1.copy()
    for pw in PATHWAYS:
        sb, sn, im = d.slice_pending(pw), d.slice("n", pw[0]), d.moment_index("m", pw)
        n, B, m, N = x[sn], x[sb], x[im], d.params.N(pw[0])
        H = _cond_mean(n, B, m, d.delta)
        HR = _cond_mean(N - n.sum(), N * m - B.sum(), m, d.delta)
        dmu = J1[im] - ((H - HR)[:, None] * J1[sn]).sum(axis=0) / N
        J0[sb] = H[:, None] * J1[sn] + n[:, None] * dmu[None]
    return J0


def _jacs(d: MarkovModelDef, m, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """5c's Jacobian J1 and the follow Jacobian J0 at an equilibrium x."""
    J = m.jacobian(x)
    J1 = np.asarray(J.toarray() if hasattr(J, "toarray") else J)
    return J1, follow_jacobian(d, x, J1)


def augmented(J1: np.ndarray, J0: np.ndarray, ib: np.ndarray, a: float, r: float) -> np.ndarray:
    """Jacobian of the filtered model at an equilibrium (u = 0); r = 0: no filter state,
    gamma = a (conditional-slow)."""
    n, k = J1.shape[0], len(ib)
    D = J1 - J0
    if r == 0:
        return J0 + a * D
    A = np.zeros((n + k, n + k))
    A[:n, :n] = J0 + a * D
    A[ib, n + np.arange(k)] = 1 - a
    A[n:, :n] = r * D[ib]
    A[n + np.arange(k), n + np.arange(k)] = -r
    return A


def _lead_osc(A: np.ndarray) -> complex:
    ev = np.linalg.eigvals(A)
    osc = ev[abs(ev.imag) > 1e-3]
    return complex(osc[np.argmax(osc.real)])


def _parse_ar(items) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in s.split(",")) for s in items]


def linear(ars: list[tuple[float, float]]) -> None:
    """tau_EE Hopf at p_EI 0.8 and last p_EI Hopf at tau_EE 1.4 for each (a, r)."""
    for label, pts in (("p_EI 0.8, tau_EE", [(0.8, t) for t in (1.8, 2.0, 2.2, 2.4, 2.6, 3.0)]),
                       ("tau_EE 1.4, p_EI", [(float(p), 1.4) for p in
                                             np.round(np.arange(0.86, 1.0001, 0.02), 3)])):
        x0 = None
        res = {ar: [] for ar in ars}
        xs = []
        for pe, te in pts:
            d, m = _model(pe, te)
            eq = find_equilibrium(m, x0)
            x0 = eq.x
            J1, J0 = _jacs(d, m, eq.x)
            ib = b_rows(d)
            xs.append(te if label.startswith("p_EI 0.8") else pe)
            for ar in ars:
                res[ar].append(_lead_osc(augmented(J1, J0, ib, *ar)))
        for ar in ars:
            re = np.array([z.real for z in res[ar]])
            cross = [xs[i] + (xs[i + 1] - xs[i]) * re[i] / (re[i] - re[i + 1])
                     for i in range(len(re) - 1) if np.sign(re[i]) != np.sign(re[i + 1])]
            print(f"{label} a {ar[0]} r {ar[1]}: Re " +
                  " / ".join(f"{v:+.4f}" for v in re) +
                  f" (at {xs[0]}..{xs[-1]}); Hopf {np.round(cross, 3).tolist()}; "
                  f"freq {res[ar][0].imag / (2 * np.pi) * 1000:.0f}..."
                  f"{res[ar][-1].imag / (2 * np.pi) * 1000:.0f} Hz", flush=True)


def run_cell(p_EI: float, tau_EE: float, a: float, r: float, t_ms: float = 1600.0,
             avg_from: float = 300.0) -> dict[str, float]:
    """Time run of the filtered model from the SNN's initial state."""
    from scipy.integrate import solve_ivp

    d, m = _model(p_EI, tau_EE)
    ib = b_rows(d)
    n, k = d.n_state, len(ib)
    x0 = d.initial_state()

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        x, u = y[:n], y[n:n + k]
        f, fr = m.rhs_and_rates(x)
        F = follow_rate(d, x, f)
        out = np.empty_like(y)
        Dv = f[ib] - F
        out[:n] = f
        out[ib] = F + a * Dv + (1 - a) * u
        out[n:n + k] = r * (Dv - u)
        out[n + k:] = fr
        return out

    y0 = np.concatenate([x0, np.zeros(k + 2)])
    t_eval = np.arange(avg_from, t_ms + 1e-9, 0.25)
    t0 = time.process_time()
    sol = solve_ivp(fun, (0, t_ms), y0, method="RK45", rtol=1e-5, atol=1e-6, t_eval=t_eval)
    cum = sol.y[n + k:]
    T = sol.t[-1] - sol.t[0]
    rate_e = 1000 * (cum[0, -1] - cum[0, 0]) / T / d.params.N_E
    rate_i = 1000 * (cum[1, -1] - cum[1, 0]) / T / d.params.N_I
    re = np.diff(cum[0]) / 0.25
    spec = abs(np.fft.rfft(re - re.mean())) ** 2
    fq = np.fft.rfftfreq(len(re), 0.25e-3)
    return {"rate_e": rate_e, "rate_i": rate_i, "freq": float(fq[np.argmax(spec[1:]) + 1]),
            "peak_ratio": float(re.max() / re.mean()), "ok": bool(sol.success),
            "cpu_s": time.process_time() - t0}


def run(ars: list[tuple[float, float]], cells: list[str]) -> None:
    for c in cells:
        pe, te = (float(v) for v in c.split(","))
        for a, r in ars:
            o = run_cell(pe, te, a, r)
            print(f"p_EI {pe} tau_EE {te} a {a} r {r}: E {o['rate_e']:.2f} Hz, I "
                  f"{o['rate_i']:.2f} Hz, dominant {o['freq']:.0f} Hz, peak/mean E "
                  f"{o['peak_ratio']:.2f} ({'ok' if o['ok'] else 'FAILED'}, {o['cpu_s']:.0f} s)",
                  flush=True)


def grid(ars: list[tuple[float, float]]) -> None:
    """The fidelity grid (35 cells) with the run's time average after 300 ms from the SNN's
    initial state (the benchmark's rule without its Newton polish, which moves a reached
    equilibrium's rates by far less than the 5 % tolerance), scored against the SNN means
    of figures/fidelity_snn.json: E and I within 5 % at p_EI <= 0.95, both within 15 % at 1.0."""
    import json
    from pathlib import Path

    snn = json.loads((Path(__file__).resolve().parent.parent / "figures" /
                      "fidelity_snn.json").read_text())["cells"].values()
    for a, r in ars:
        ne = ni = n1 = 0
        errs = []
        for c in snn:
            pe, te = c["p_EI"], c["tau_EE"]
            o = run_cell(pe, te, a, r)
            se = np.mean([s["rate_e_hz"] for s in c["snn"]])
            si = np.mean([s["rate_i_hz"] for s in c["snn"]])
            ee, ei = o["rate_e"] / se - 1, o["rate_i"] / si - 1
            if pe <= 0.95:
                ne += abs(ee) <= 0.05
                ni += abs(ei) <= 0.05
                errs.append((abs(ee), abs(ei)))
            else:
                n1 += abs(ee) <= 0.15 and abs(ei) <= 0.15
            print(f"  a {a} r {r} p_EI {pe} tau_EE {te}: E {o['rate_e']:.2f} ({100 * ee:+.1f} %)"
                  f", I {o['rate_i']:.2f} ({100 * ei:+.1f} %), dominant {o['freq']:.0f} Hz, "
                  f"peak/mean {o['peak_ratio']:.2f}", flush=True)
        me, mi = np.mean(errs, axis=0) * 100
        print(f"a {a} r {r}: E {ne}/30, I {ni}/30, p_EI = 1.0 {n1}/5, mean abs E / I error "
              f"{me:.1f} % / {mi:.1f} %", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("part", choices=("linear", "run", "grid"))
    ap.add_argument("--ar", nargs="+", default=list(DEFAULT_AR),
                    help="a,r pairs (high-frequency gain, filter rate 1/ms)")
    ap.add_argument("--cells", nargs="+", default=list(RUN_CELLS))
    args = ap.parse_args()
    if args.part == "linear":
        linear(_parse_ar(args.ar))
    elif args.part == "grid":
        grid(_parse_ar(args.ar))
    else:
        run(_parse_ar(args.ar), args.cells)


if __name__ == "__main__":
    main()
