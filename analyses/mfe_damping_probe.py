"""Which part of the conditional closure damps the MFE cycle? (issue 11, branch closure11).

Linear tests at the equilibria of "conditional" (MODEL.md 5c), p_EI 0.8, tau_EE 1.8-2.6 ms,
each printing the leading eigenvalue (Hopf where its real part crosses 0):

* ``frozen``: the per-bin conditional offsets d_j = B_j / n_j - m frozen at their equilibrium
  values (B_j = n_j (m + d_j) follows n_j and m; the reduced Jacobian J L restricted to the
  other variables), for all bins, per pathway and per 20-mV-ish voltage region; the
  equilibrium (and so the rates) is the closure's own;
* ``wfrozen``: the within-bin variance w (noise and covariance flux) frozen at its equilibrium
  value (v replaced by D(x) + w*, finite-difference Jacobian);
* ``stein``: f is affine in the coupling kappa, f = f0 + kappa g (g: the covariance flux);
  at 5c's equilibrium x* the Jacobian J0 + alpha dg/dx keeps the covariance flux's value
  g(x*) (so the equilibrium and rates) and scales only its response to the state by alpha;
  at tau_EE 2.2 also alpha = 0 only in the B rows of one pathway or voltage range, or only in
  the columns of one kind of state variable (density n and A, m, v, B);
* ``dv``: paper and conditional with bins of 4 and 2;
* ``kappa``: conditional with coupling 0.25 / 0.5 / 0.75;
* ``acf``: decay rate of the SNN's E-count autocorrelation peaks (4 seeds x 2 s after 100 ms)
  against -Re of the leading eigenvalue of paper and conditional.

Usage: ``nice -n 10 python analyses/mfe_damping_probe.py [frozen wfrozen dv kappa acf]``
"""

from __future__ import annotations

import argparse

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.params import PATHWAYS
from bifsnn.network.snn import simulate_snn
from bifsnn.reduction import MarkovModelDef, find_equilibrium

TAUS = (1.8, 2.0, 2.2, 2.4, 2.6)


def _lead(ev: np.ndarray) -> complex:
    return complex(ev[np.argmax(ev.real)])


def _dense(J) -> np.ndarray:
    return J.toarray() if hasattr(J, "toarray") else np.asarray(J)


def _defn(tau: float, closure: str = "conditional", **kw) -> MarkovModelDef:
    return MarkovModelDef(params=NetworkParams().replace(p_EI=0.8, tau_EE=tau), closure=closure,
                          **kw)


def _frozen_lead(d: MarkovModelDef, x: np.ndarray, J: np.ndarray,
                 fr: list[tuple[str, int]]) -> complex:
    """Leading eigenvalue of J with the offsets of the (pathway, bin) pairs ``fr`` frozen."""
    N = d.n_state
    L = np.eye(N)
    keep = np.ones(N, bool)
    for pw, j in fr:
        ib = d.slice_pending(pw).start + j
        i_n = d.slice("n", pw[0]).start + j
        i_m = d.moment_index("m", pw)
        nj = x[i_n]
        keep[ib] = False
        L[ib, :] = 0.0
        L[ib, i_n] = x[ib] / max(nj, 1e-12)  # = m + d_j
        L[ib, i_m] = nj
    return _lead(np.linalg.eigvals((J @ L)[np.ix_(keep, keep)]))


def frozen() -> None:
    """Leading eigenvalue with the conditional offsets of chosen bins frozen."""
    x0 = None
    for tau in TAUS:
        d = _defn(tau)
        m = d.compile()
        eq = find_equilibrium(m, x0)
        x = x0 = eq.x
        J = _dense(m.jacobian(x))
        mids = d.edges[:-1] + 0.5 * d.dv

        groups = {"none": [], "all": [(pw, j) for pw in PATHWAYS for j in range(d.K)]}
        if tau == 2.2:
            for pw in PATHWAYS:
                groups[f"pathway {pw}"] = [(pw, j) for j in range(d.K)]
            regions = {"V < -8": mids < -8, "reset -8..8": abs(mids) < 8,
                       "mid 8..80": (mids > 8) & (mids < 80), "top 80..100": mids > 80}
            for r, msk in regions.items():
                groups[f"{r}, all pathways"] = [(pw, j) for pw in PATHWAYS
                                                for j in np.where(msk)[0]]
                groups[f"{r}, EI only"] = [("EI", j) for j in np.where(msk)[0]]
        print(f"tau_EE {tau}: E {eq.rate_e_hz:.2f} Hz")
        for g, fr in groups.items():
            lam = _frozen_lead(d, x, J, fr)
            print(f"  frozen {g:28s} lead {lam.real:+.4f} {lam.imag:+.4f}i", flush=True)


def stein() -> None:
    """Leading eigenvalue with the covariance flux's response scaled by alpha."""
    x0 = None
    for tau in TAUS:
        d1 = _defn(tau)
        m1 = d1.compile()
        eq = find_equilibrium(m1, x0)
        x = x0 = eq.x
        J1 = _dense(m1.jacobian(x))
        J0 = _dense(_defn(tau, coupling=0.0).compile().jacobian(x))
        row = [f"alpha {a}: {_lead(np.linalg.eigvals(J0 + a * (J1 - J0))).real:+.4f}"
               for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
        print(f"tau_EE {tau} (E {eq.rate_e_hz:.2f} Hz): " + "  ".join(row), flush=True)
        if tau == 2.2:  # alpha = 0 only in the B rows of one pathway / voltage region
            mids = d1.edges[:-1] + 0.5 * d1.dv
            regions = {"V < 8": mids < 8, "8..40": (mids > 8) & (mids < 40),
                       "40..80": (mids > 40) & (mids < 80), "80..100": mids > 80}
            for label, pws, msk in ([(f"pathway {pw}", (pw,), mids > -1e9) for pw in PATHWAYS]
                                    + [(f"bins {r}", PATHWAYS, mk) for r, mk in regions.items()]):
                rows = np.concatenate([d1.slice_pending(pw).start + np.where(msk)[0]
                                       for pw in pws])
                Jm = J1.copy()
                Jm[rows] = J0[rows]
                print(f"  covariance-flux response off in {label:16s}: "
                      f"{_lead(np.linalg.eigvals(Jm)).real:+.4f}", flush=True)
            # ... or only its response to one kind of state variable (columns)
            K = d1.K
            mom = np.arange(4 * K, 4 * K + 8)
            cols = {"n, A (density)": np.arange(4 * K),
                    "m (population means)": mom[0::2], "v (variances)": mom[1::2],
                    "B (pending totals)": np.arange(4 * K + 8, d1.n_state)}
            for label, c in cols.items():
                Jm = J1.copy()
                Jm[:, c] = J0[:, c]
                print(f"  covariance-flux response to {label:22s} off: "
                      f"{_lead(np.linalg.eigvals(Jm)).real:+.4f}", flush=True)


def _between(d: MarkovModelDef, x: np.ndarray, pw: str) -> float:
    N = d.params.N(pw[0])
    mm = x[d.moment_index("m", pw)]
    n = x[d.slice("n", pw[0])]
    B = x[d.slice_pending(pw)]
    R, BR = N - n.sum(), N * mm - B.sum()
    return float((((B - n * mm) ** 2 * n / (n ** 2 + 1e-6)).sum()
                  + (BR - R * mm) ** 2 * R / (R ** 2 + 1e-6)) / N)


def _wfrozen_rhs(d: MarkovModelDef, m, wst: dict[str, float], x: np.ndarray) -> np.ndarray:
    """f with the within-bin variance held at wst (v replaced by D(x) + w*)."""
    y = x.copy()
    for pw in PATHWAYS:
        y[d.moment_index("v", pw)] = _between(d, x, pw) + wst[pw]
    f, f2 = m.rhs(y), m.rhs(x)
    for pw in PATHWAYS:
        f[d.moment_index("v", pw)] = f2[d.moment_index("v", pw)]
    return f


def wfrozen() -> None:
    """Leading eigenvalue with the within-bin variance frozen at equilibrium."""
    x0 = None
    for tau in TAUS[1:]:
        d = _defn(tau)
        m = d.compile()
        eq = find_equilibrium(m, x0)
        xs = x0 = eq.x
        wst = {pw: xs[d.moment_index("v", pw)] - _between(d, xs, pw) for pw in PATHWAYS}

        n = len(xs)
        J = np.zeros((n, n))
        for i in range(n):
            e = 1e-6 * max(1.0, abs(xs[i]))
            xp, xm = xs.copy(), xs.copy()
            xp[i] += e
            xm[i] -= e
            J[:, i] = (_wfrozen_rhs(d, m, wst, xp) - _wfrozen_rhs(d, m, wst, xm)) / (2 * e)
        print(f"tau_EE {tau}: as is {_lead(eq.eigenvalues):.4f}, w frozen "
              f"{_lead(np.linalg.eigvals(J)):.4f}", flush=True)


def scan(label: str, **kw) -> None:
    """Leading real part over TAUS for one definition."""
    row, x0 = [], None
    for tau in TAUS:
        eq = find_equilibrium(_defn(tau, **kw).compile(), x0)
        x0 = eq.x
        row.append(f"{tau}: {_lead(eq.eigenvalues).real:+.4f} ({eq.rate_e_hz:.1f} Hz)")
    print(f"{label}: " + "  ".join(row), flush=True)


def scaled(tau: float, k: int) -> NetworkParams:
    """p_EI 0.8 network with N -> k N and S -> S / k."""
    p = NetworkParams()
    return p.replace(p_EI=0.8, tau_EE=tau, N_E=k * p.N_E, N_I=k * p.N_I,
                     **{f"S_{pw}": getattr(p, f"S_{pw}") / k for pw in PATHWAYS})


def acf(taus: tuple[float, ...] = (2.4, 2.6, 2.8, 3.0), seeds: int = 4, k: int = 1) -> None:
    """SNN autocorrelation decay against the closures' leading eigenvalue (network scaled
    by k)."""
    for tau in taus:
        p = scaled(tau, k)
        acs = []
        for s in range(seeds):
            c = np.asarray(simulate_snn(p, t_ms=2100, seed=s, progress=False).spike_counts_e,
                           float)[1000:]
            c = c - c.mean()
            n = len(c)
            f = np.fft.rfft(c, 2 * n)
            ac = np.fft.irfft(abs(f) ** 2)[:600] / np.arange(n, n - 600, -1)
            acs.append(ac / ac[0])
        sm = np.convolve(np.mean(acs, axis=0), np.ones(5) / 5, "same")
        pk: list[int] = []
        for i in range(30, 590):
            if sm[i] > sm[i - 1] and sm[i] >= sm[i + 1] and sm[i] > 0:
                if not pk or i - pk[-1] > 40:
                    pk.append(i)
                elif sm[i] > sm[pk[-1]]:
                    pk[-1] = i
        lags = np.array(pk[:4]) * p.dt
        g = float(-np.polyfit(lags, np.log(sm[pk[:4]]), 1)[0])
        out = []
        for cl, kw in (("paper", {}), ("conditional", {}), ("conditional", {"coupling": 0.5})):
            eq = find_equilibrium(MarkovModelDef(params=p, closure=cl, **kw).compile())
            out.append(f"{cl}{'+coupling=0.5' if kw else ''} {-_lead(eq.eigenvalues).real:.4f}")
        print(f"k {k} tau_EE {tau}: SNN ACF peaks at {np.round(lags, 1).tolist()} ms, heights "
              f"{np.round(sm[pk[:4]], 3).tolist()}, decay {g:.4f}/ms; -Re lead: "
              + ", ".join(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("parts", nargs="*", default=["frozen", "wfrozen", "dv", "kappa", "acf"])
    ap.add_argument("--k", type=int, default=1, help="acf: network scale (N k, S / k)")
    ap.add_argument("--acf-taus", type=float, nargs="+", default=[2.4, 2.6, 2.8, 3.0])
    args = ap.parse_args()
    for part in args.parts:
        print(f"== {part}")
        if part == "frozen":
            frozen()
        elif part == "wfrozen":
            wfrozen()
        elif part == "stein":
            stein()
        elif part == "dv":
            for dv in (4.0, 2.0):
                scan(f"paper dv {dv}", closure="paper", dv=dv)
                scan(f"conditional dv {dv}", dv=dv)
        elif part == "kappa":
            for k in (0.25, 0.5, 0.75):
                scan(f"conditional coupling {k}", coupling=k)
        elif part == "acf":
            acf(tuple(args.acf_taus), k=args.k)


if __name__ == "__main__":
    main()
