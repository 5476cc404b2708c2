"""Where does the conditional closure's damping of the MFE cycle come from? (issue 11, branch
closure11).

Phase-resolved comparison, along the MFE cycle, of the pending inhibitory input conditioned on
voltage in the SNN (every neuron's V and pending counts H recorded every step) and in the
conditional closure's ODE (per-bin totals B_j of 5c):

* ``cov``: covariance of V and the pending I count H_I over the non-refractory E neurons,
  binned (bin means, as the ODE carries it) and, for the SNN, neuron by neuron;
* ``top``: mean H_I of the E neurons in the top bins (V >= 80) minus the population mean m_EI;
* ``reset``: mean H_I of the refractory E neurons minus m_EI (the reset cohort), and for the
  ODE B_R / R - m;
* ``slope``: regression slope d H_I / d V over the non-refractory E neurons;
* ``v``, ``w``: variance of H_I over the E population and its within-bin part (SNN: over the
  non-refractory neurons); ``w_mid``, ``n_mid``: the within-bin variance of H_I pooled over
  the bins of [40, 80) and their occupation (SNN only).

Each statistic is averaged over cycles against the time since the MFE peak (E spike count
maximum).  Usage: ``nice -n 10 python analyses/mfe_conditional_probe.py [--tau 1.8 2.0]``;
writes ``figures/mfe_conditional_probe.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.snn import simulate_snn

OUT = Path(__file__).resolve().parent.parent / "figures" / "mfe_conditional_probe.json"
EDGES = -40.0 + 4.0 * np.arange(36)
PHASE_MS = 16.0  # window after each peak


def record_snn(params: NetworkParams, t_ms: float, seed: int, pop: str = "E"
               ) -> dict[str, np.ndarray]:
    """SNN run recording V, refractory flags and H of population ``pop``'s neurons at every
    step (through simulate_snn's observer)."""
    rec: dict[str, list[np.ndarray]] = {"V": [], "R": [], "HI": [], "HE": []}
    sel = slice(0, params.N_E) if pop == "E" else slice(params.N_E, None)

    def observe(t: float, s: Any) -> None:
        rec["V"].append(s.V[sel].astype(np.float32))
        rec["R"].append(s.refractory[sel].copy())
        rec["HE"].append(s.H[sel, 0].astype(np.int16))
        rec["HI"].append(s.H[sel, 1].astype(np.int16))

    res = simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, observer=observe)
    out = {k: np.array(v) for k, v in rec.items()}
    out["spikes_e"] = np.asarray(res.spike_counts_e, dtype=float)
    return out


def snn_stats(r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-step statistics of the SNN's E population."""
    V, R, HI = r["V"].astype(float), r["R"], r["HI"].astype(float)
    HE = r["HE"].astype(float)
    act = ~R
    m = HI.mean(axis=1)
    na = act.sum(axis=1)
    Vm = np.where(act, V, 0).sum(axis=1) / na
    Hm = np.where(act, HI, 0).sum(axis=1) / na
    cov_n = np.where(act, (V - Vm[:, None]) * (HI - Hm[:, None]), 0).sum(axis=1) / na
    varV = np.where(act, (V - Vm[:, None]) ** 2, 0).sum(axis=1) / na
    # binned: bin means of V and H_I, weighted by counts
    idx = np.clip(np.digitize(V, EDGES) - 1, 0, len(EDGES) - 2)
    T, K = V.shape[0], len(EDGES) - 1
    n = np.zeros((T, K))
    A = np.zeros((T, K))
    B = np.zeros((T, K))
    rows = np.repeat(np.arange(T), V.shape[1]).reshape(V.shape)
    np.add.at(n, (rows[act], idx[act]), 1.0)
    np.add.at(A, (rows[act], idx[act]), V[act])
    np.add.at(B, (rows[act], idx[act]), HI[act])
    cov_b = binned_cov(n, A, B)
    BE = np.zeros((T, K))
    np.add.at(BE, (rows[act], idx[act]), HE[act])
    cov_e = binned_cov(n, A, BE)
    # within-bin variance of H_I (law of total variance over the non-refractory neurons)
    B2 = np.zeros((T, K))
    np.add.at(B2, (rows[act], idx[act]), HI[act] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.where(n > 0, B2 - B ** 2 / np.where(n > 0, n, 1), 0)
    wI = ss.sum(axis=1) / na
    mid = (EDGES[:-1] >= 40) & (EDGES[:-1] < 80)
    n_mid = n[:, mid].sum(axis=1)
    w_mid = ss[:, mid].sum(axis=1) / np.maximum(n_mid, 1)
    top = np.where(act & (V >= 80), HI, 0).sum(axis=1) / np.maximum(
        (act & (V >= 80)).sum(axis=1), 1) - m
    nR = R.sum(axis=1)
    reset = np.where(nR > 0, np.where(R, HI, 0).sum(axis=1) / np.maximum(nR, 1) - m, np.nan)
    return {"m": m, "cov_b": cov_b, "cov_n": cov_n, "slope": cov_n / varV, "top": top,
            "reset": reset, "rate": r["spikes_e"], "nR": nR.astype(float), "cov_e": cov_e,
            "v": HI.var(axis=1), "w": wI,
            "w_mid": w_mid, "n_mid": n_mid}


def binned_cov(n: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Covariance of bin-mean V and bin-mean H over the bins' neurons (rows = times)."""
    nt = n.sum(axis=1)
    Vm = A.sum(axis=1) / nt
    Hm = B.sum(axis=1) / nt
    nt = np.where(nt > 0, nt, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        vb = np.where(n > 1e-9, A / n, 0)
        hb = np.where(n > 1e-9, B / n, 0)
    return (n * (vb - Vm[:, None]) * (hb - Hm[:, None])).sum(axis=1) / nt


def ode_stats(closure: str, params: NetworkParams, t_ms: float,
              **kw: Any) -> dict[str, np.ndarray]:
    """The same statistics along the ODE's trajectory (recorded every 0.1 ms)."""
    from bifsnn.reduction import MarkovModelDef, simulate_ode

    d = MarkovModelDef(params=params, closure=closure, **kw)
    res = simulate_ode(d.compile(), t_ms=t_ms, record_every_ms=0.1)
    X = res.extra["state"]
    n, A = X[:, d.slice("n", "E")], X[:, d.slice("A", "E")]
    m = X[:, d.moment_index("m", "EI")]
    mE = X[:, d.moment_index("m", "EE")]
    if d.conditional:
        B = X[:, d.slice_pending("EI")]
        BE = X[:, d.slice_pending("EE")]
    else:
        B = m[:, None] * n
        BE = mE[:, None] * n
    R = params.N_E - n.sum(axis=1)
    top_bins = EDGES[:-1] >= 80
    out = {"m": m, "cov_b": binned_cov(n, A, B), "cov_e": binned_cov(n, A, BE),
           "top": B[:, top_bins].sum(axis=1) / n[:, top_bins].sum(axis=1) - m,
           "reset": (params.N_E * m - B.sum(axis=1)) / R - m, "nR": R,
           "v": X[:, d.moment_index("v", "EI")],
           "t_state": res.extra["state_t_ms"]}
    out["rate"] = np.asarray(res.spike_counts_e, dtype=float)
    return out


def phase_average(stat: np.ndarray, rate: np.ndarray, dt: float, skip_ms: float
                  ) -> tuple[np.ndarray, int, float]:
    """Average of ``stat`` against time since each MFE peak of ``rate`` (same grid dt)."""
    k0 = int(skip_ms / dt)
    w = int(PHASE_MS / dt)
    r = rate[k0:]
    s = stat[k0:]
    # peaks: maxima of a 1 ms moving sum above half the largest
    sm = np.convolve(r, np.ones(10), mode="same")
    thr = 0.5 * sm.max()
    peaks = [i for i in range(1, len(sm) - 1)
             if sm[i] >= thr and sm[i] >= sm[i - 1] and sm[i] > sm[i + 1]]
    keep: list[int] = []
    for i in peaks:
        if not keep or i - keep[-1] > int(5 / dt):
            keep.append(i)
    segs = [s[i: i + w] for i in keep if i + w <= len(s)]
    period = float(np.median(np.diff(keep)) * dt) if len(keep) > 2 else float("nan")
    if not segs:
        return np.full(w, np.nan), 0, period
    return np.nanmean(np.array(segs), axis=0), len(segs), period


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tau", type=float, nargs="+", default=[1.8, 2.0])
    ap.add_argument("--p-ei", type=float, default=0.8)
    ap.add_argument("--snn-ms", type=float, default=700.0)
    ap.add_argument("--closures", nargs="+", default=["conditional", "paper"])
    args = ap.parse_args()
    out: dict[str, Any] = {}
    keys = ("m", "cov_b", "cov_n", "slope", "top", "reset", "rate", "nR", "cov_e", "v", "w",
            "w_mid", "n_mid")
    for tau in args.tau:
        p = NetworkParams().replace(p_EI=args.p_ei, tau_EE=tau)
        r = record_snn(p, args.snn_ms, seed=0)
        st = snn_stats(r)
        rows: dict[str, Any] = {}
        avg = {}
        for k in keys:
            avg[k], ncyc, per = phase_average(st[k], st["rate"], 0.1, 100.0)
        rows["snn"] = {"cycles": ncyc, "period_ms": per,
                       **{k: avg[k].tolist() for k in keys},
                       "mean": {k: float(np.nanmean(st[k][1000:])) for k in keys}}
        for cl in args.closures:
            o = ode_stats(cl, p, 600.0)
            ravg = {}
            for k in keys:
                if k in o:
                    ravg[k], ncyc, per = phase_average(o[k][:len(o["rate"])], o["rate"], 0.1,
                                                       200.0)
            rows[cl] = {"cycles": ncyc, "period_ms": per,
                        **{k: v.tolist() for k, v in ravg.items()},
                        "mean": {k: float(np.nanmean(o[k][2000:])) for k in o if k in keys}}
        out[f"{args.p_ei}/{tau}"] = rows
        print(f"== p_EI {args.p_ei} tau_EE {tau}")
        for name, row in rows.items():
            print(f"  {name:12s} cycles {row['cycles']:3d} period {row['period_ms']:.2f} ms  "
                  + "  ".join(f"{k} {row['mean'].get(k, float('nan')):+.3f}"
                              for k in ("m", "cov_b", "cov_n", "top", "reset")))
            ph = np.arange(0, PHASE_MS, 1.0)
            for k in ("rate", "m", "cov_b", "top", "reset", "cov_e", "v", "w", "w_mid",
                      "n_mid"):
                if k in row:
                    a = np.array(row[k])[:: 10]
                    print(f"    {k:6s} " + " ".join(f"{x:7.2f}" for x in a[: len(ph)]))
    OUT.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
