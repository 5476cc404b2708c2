"""Does the conditional closure's weakly damped mode look like the SNN's? (issue 11, branch
closure11).

At p_EI 0.8 and a tau_EE where both are asynchronous (default 2.6 ms), the leading eigenvector
of the conditional closure's Jacobian (MODEL.md 5c) at its equilibrium is compared with the
SNN's noise-driven fluctuation mode, measured by cross-spectra (100 ms Hann segments, seed 0,
after 100 ms) at the SNN's spectral peak: for each 20 mV voltage group g, the conditional
mean pending input offset d_g = (mean H of the group's non-refractory neurons) - m and the
group's occupation n_g, both as complex amplitudes relative to the population mean m_EI
(ODE: d(.)/dx along the eigenvector).  Also the SNN's E-rate autocorrelation decay (4 seeds
x 2 s) against -Re of the leading eigenvalue of "paper" and "conditional" (and coupling
kappa).  Usage: ``nice -n 10 python analyses/mfe_mode_probe.py [--tau 2.6] [--t-ms 2100]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mfe_conditional_probe import record_snn  # noqa: E402

from bifsnn import NetworkParams  # noqa: E402
from bifsnn.network.snn import simulate_snn  # noqa: E402
from bifsnn.reduction import MarkovModelDef, find_equilibrium  # noqa: E402

GROUPS = [(-40 + 20 * i, -20 + 20 * i) for i in range(7)]


def ode_mode(p: NetworkParams, closure: str = "conditional", **kw) -> dict[str, np.ndarray]:
    """Group offsets and occupations along the leading eigenvector, relative to m_EI."""
    d = MarkovModelDef(params=p, closure=closure, **kw)
    mdl = d.compile()
    eq = find_equilibrium(mdl)
    x = eq.x
    J = mdl.jacobian(x)
    J = J.toarray() if hasattr(J, "toarray") else np.asarray(J)
    w, vecs = np.linalg.eig(J)
    i = int(np.argmax(w.real))
    v = vecs[:, i]
    mids = d.edges[:-1] + 0.5 * d.dv

    def stats(y: np.ndarray) -> np.ndarray:
        out = [y[d.moment_index("m", "EI")]]
        for pop, pws in (("E", ("EI", "EE")), ("I", ("II", "IE"))):
            n = y[d.slice("n", pop)]
            for pw in pws:
                B = (y[d.slice_pending(pw)] if d.conditional
                     else y[d.moment_index("m", pw)] * n)
                m = y[d.moment_index("m", pw)]
                out += [B[(mids > lo) & (mids < hi)].sum() / n[(mids > lo) & (mids < hi)].sum()
                        - m for lo, hi in GROUPS]
            out += [n[(mids > lo) & (mids < hi)].sum() for lo, hi in GROUPS]
        return np.array(out)

    e = 1e-4
    dv = ((stats(x + e * v.real) - stats(x - e * v.real))
          + 1j * (stats(x + e * v.imag) - stats(x - e * v.imag))) / (2 * e)
    return {"lead": w[i], "rel": dv / dv[0], "static": stats(x)}


def snn_mode(p: NetworkParams, t_ms: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Cross-spectral amplitudes of the same quantities relative to m_EI at the SNN's peak."""
    series = []
    spikes = None
    for pop, cols in (("E", ("HI", "HE")), ("I", ("HI", "HE"))):
        r = record_snn(p, t_ms, 0, pop)
        V, R = r["V"].astype(float), r["R"]
        if pop == "E":
            series.append(r["HI"].astype(float).mean(axis=1))
            spikes = r["spikes_e"]
        for col in cols:
            H = r[col].astype(float)
            m = H.mean(axis=1)
            for lo, hi in GROUPS:
                a = (~R) & (V >= lo) & (V < hi)
                series.append(np.where(a, H, 0).sum(axis=1) / np.maximum(a.sum(axis=1), 1) - m)
        for lo, hi in GROUPS:
            series.append(((~R) & (V >= lo) & (V < hi)).sum(axis=1).astype(float))
    S = np.array(series)[:, 1000:]
    c = spikes[1000: 1000 + S.shape[1]]
    L = 1000
    ns = S.shape[1] // L
    win = np.hanning(L)

    def ft(y: np.ndarray) -> np.ndarray:
        y = y[: ns * L].reshape(ns, L)
        return np.fft.rfft((y - y.mean(axis=1, keepdims=True)) * win, axis=1)

    Fc = ft(c)
    freqs = np.fft.rfftfreq(L, d=p.dt * 1e-3)
    Scc = (abs(Fc) ** 2).mean(axis=0)
    band = (freqs > 40) & (freqs < 140)
    k = int(np.where(band)[0][np.argmax(Scc[band])])
    F = [ft(s)[:, k] for s in S]
    ref = (F[0] * np.conj(Fc[:, k])).mean()
    rel = np.array([(f * np.conj(Fc[:, k])).mean() / ref for f in F])
    return float(freqs[k]), rel, S.mean(axis=1)


def acf_decay(p: NetworkParams, seeds: int = 4) -> float:
    """Decay rate (1/ms) of the successive peaks of the E count autocorrelation."""
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
    return float(-np.polyfit(lags, np.log(sm[pk[:4]]), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tau", type=float, default=2.6)
    ap.add_argument("--t-ms", type=float, default=2100.0)
    ap.add_argument("--no-acf", action="store_true")
    ap.add_argument("--closure", default="conditional")
    args = ap.parse_args()
    p = NetworkParams().replace(p_EI=0.8, tau_EE=args.tau)
    o = ode_mode(p, args.closure)
    f, rel, static = snn_mode(p, args.t_ms)
    print(f"p_EI 0.8 tau_EE {args.tau}: {args.closure} lead {o['lead']:.4f} "
          f"({o['lead'].imag / 2 / np.pi * 1000:.1f} Hz); SNN peak {f:.0f} Hz")
    labels = []
    for pw in ("EI", "EE"):
        labels += [f"d_{pw} [{lo},{hi})" for lo, hi in GROUPS]
    labels += [f"n_E [{lo},{hi})" for lo, hi in GROUPS]
    for pw in ("II", "IE"):
        labels += [f"d_{pw} [{lo},{hi})" for lo, hi in GROUPS]
    labels += [f"n_I [{lo},{hi})" for lo, hi in GROUPS]
    print("| quantity | SNN static | ODE static | SNN |amp| / m_EI | ODE |amp| | SNN phase | "
          "ODE phase |")
    for i, lab in enumerate(labels, start=1):
        print(f"| {lab} | {static[i]:.3f} | {o['static'][i]:.3f} | {abs(rel[i]):.4f} | "
              f"{abs(o['rel'][i]):.4f} | {np.angle(rel[i], deg=True):.0f} | "
              f"{np.angle(o['rel'][i], deg=True):.0f} |")
    if not args.no_acf:
        g = acf_decay(p)
        row = [f"SNN ACF decay {g:.4f}/ms"]
        for cl, kw in (("paper", {}), ("conditional", {}), ("conditional", {"coupling": 0.5})):
            eq = find_equilibrium(MarkovModelDef(params=p, closure=cl, **kw).compile())
            lam = eq.eigenvalues[np.argmax(eq.eigenvalues.real)]
            row.append(f"{cl}{kw or ''} -Re {-lam.real:.4f}")
        print("; ".join(row))


if __name__ == "__main__":
    main()
