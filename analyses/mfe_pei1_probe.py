"""Why does every closure's last Hopf in p_EI sit at 0.89-0.96 (issue 11, branch closure13)?

At the inhibition-dominated cells p_EI 0.9-1.0, tau_EE 1.2-1.4 ms the SNN (N = 400) has MFEs
at 43-59 Hz while the neuron-level Markov model (fidelity_snn.json) has a slow 19-21 Hz
cycle at 0.95 / 1.2-1.4 and 1.0 / 1.2, as the paper closure and "conditional-slow" do.  This
probe runs the SNN at those cells (a) as it is, (b) with every neuron's pending counts H
reshuffled within its population after every step (the Markov approximation's input
independence; as ``mfe_shuffle_probe.py``), and (c) scaled by k, dense (N k, S / k) or
sparse (N k, p / k: the shared input falls as 1 / k, each neuron's input counts stay), to ask
whether the synchrony is a finite-size effect, and prints the E rate, the SSI, the spectral
peak and the coefficient of variation of the 1 ms E count after 100 ms (and A, that CV over
the Poisson value for independent firing at the same rate).

Usage: ``nice -n 10 python analyses/mfe_pei1_probe.py [--cells 0.95,1.4 1.0,1.2] [--k 1 4]
[--t-ms 1100] [--seeds 1] [--no-shuffle] [--sparse]``;
``... --ode conditional paper --cells ... --k 1 4 8 [--sparse]`` for the closures' equilibria.
"""

from __future__ import annotations

import argparse

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.observables import summary
from bifsnn.network.params import PATHWAYS
from bifsnn.network.snn import simulate_snn

CELLS = ((0.9, 1.4), (0.95, 1.4), (1.0, 1.4), (0.95, 1.2), (1.0, 1.2))


def params_at(p_EI: float, tau_EE: float, k: int = 1, sparse: bool = False) -> NetworkParams:
    """The default network at one cell, scaled by k: N k and S / k ("dense", as
    ``NetworkParams.scaled``: each neuron's input noise falls too), or N k and p / k
    ("sparse": each neuron receives the same spike counts of the same size, only the share of
    input common to two neurons falls; the mean-field ODE is the same up to the binomial
    factor 1 - p / 2 of the pending variance)."""
    p = NetworkParams().replace(p_EI=p_EI, tau_EE=tau_EE)
    if sparse:
        return p.replace(N_E=k * p.N_E, N_I=k * p.N_I,
                         **{f"p_{pw}": p.p(pw) / k for pw in PATHWAYS})
    return p.replace(N_E=k * p.N_E, N_I=k * p.N_I,
                     **{f"S_{pw}": getattr(p, f"S_{pw}") / k for pw in PATHWAYS})


def run(params: NetworkParams, t_ms: float, seed: int, shuffle: bool) -> dict[str, float]:
    """E rate, SSI, spectral peak, CV of the 1 ms E count after 100 ms and that CV over
    the Poisson value 1 / sqrt(mean count) (amplification A: bounded as N grows below a Hopf
    point, growing as sqrt(N) on a limit cycle)."""
    rng = np.random.default_rng(seed + 1000)
    NE = params.N_E

    def observe(t: float, s) -> None:
        if shuffle:
            s.H[:NE] = s.H[rng.permutation(NE)]
            s.H[NE:] = s.H[NE + rng.permutation(len(s.H) - NE)]

    res = simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, observer=observe,
                       observe_every_ms=params.dt)
    s = summary(res, transient_ms=100.0)
    c = np.asarray(res.spike_counts_e, float)[int(100 / params.dt):]
    c1 = c[: len(c) // 10 * 10].reshape(-1, 10).sum(axis=1)
    return {"rate": s["rate_e_hz"], "ssi": s["ssi_e"] or float("nan"),
            "peak": s["spectral_peak_hz"] or float("nan"), "cv": float(c1.std() / c1.mean()),
            "amp": float(c1.std() / np.sqrt(c1.mean()))}


def ode(cells: list[str], ks: list[int], closures: tuple[str, ...], sparse: bool) -> None:
    """Equilibrium E rate and leading eigenvalue of each closure at the cells, at the
    parameters of the network scaled by k (dense or sparse): the deterministic model of the
    very network the SNN runs are made with."""
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    for cl in closures:
        for cell in cells:
            pe, te = (float(v) for v in cell.split(","))
            for k in ks:
                d = MarkovModelDef(params=params_at(pe, te, k, sparse), closure=cl)
                eq = find_equilibrium(d.compile())
                lead = eq.eigenvalues[np.argmax(eq.eigenvalues.real)]
                sc = ("sparse" if sparse else "dense") if k != 1 else ""
                print(f"{cl} p_EI {pe} tau_EE {te} k {k} {sc}: "
                      f"equilibrium E {eq.rate_e_hz:.2f} Hz, I {eq.rate_i_hz:.2f} Hz, leading "
                      f"eigenvalue {lead.real:+.4f}{lead.imag:+.3f}i "
                      f"({abs(lead.imag) / (2 * np.pi) * 1000:.0f} Hz)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", nargs="+", default=[f"{a},{b}" for a, b in CELLS])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--t-ms", type=float, default=1100.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--sparse", action="store_true", help="scale p / k instead of S / k")
    ap.add_argument("--ode", nargs="*", default=None,
                    help="instead of the SNN: these closures' equilibria (default paper, "
                    "conditional) at the scaled parameters (dense, or --sparse)")
    args = ap.parse_args()
    if args.ode is not None:
        ode(args.cells, args.k, tuple(args.ode) or ("paper", "conditional"), args.sparse)
        return
    for cell in args.cells:
        pe, te = (float(v) for v in cell.split(","))
        for k in args.k:
            for shuffle in ((False,) if (k != 1 or args.no_shuffle) else (False, True)):
                for seed in range(args.seeds):
                    o = run(params_at(pe, te, k, args.sparse), args.t_ms, seed, shuffle)
                    sp = " sparse" if args.sparse and k != 1 else ""
                    print(f"p_EI {pe} tau_EE {te} k {k}{sp} "
                          f"{'shuffled' if shuffle else 'as is   '} seed {seed}: "
                          f"E {o['rate']:.2f} Hz, SSI {o['ssi']:.3f}, peak "
                          f"{o['peak']:.0f} Hz, CV {o['cv']:.2f}, A {o['amp']:.2f}", flush=True)


if __name__ == "__main__":
    main()
