"""Does the SNN's own input persistence damp its MFE cycle? (issue 11, branch closure11).

Runs the SNN (N = 400, seed 0) at p_EI 0.8 and several tau_EE as it is and with every
neuron's pending counts H reshuffled among the neurons of its population after every step
(same population distribution, each neuron's own input history destroyed: the Markov
approximation's independence, issue 11 "Diagnosis so far").  Prints the E rate and the
coefficient of variation of the 1 ms-binned E spike count (synchrony) after 100 ms.
Usage: ``nice -n 10 python analyses/mfe_shuffle_probe.py [--tau 2.0 2.2 2.4] [--t-ms 1100]``
"""

from __future__ import annotations

import argparse

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.snn import simulate_snn


def run(params: NetworkParams, t_ms: float, seed: int, shuffle: bool) -> tuple[float, float]:
    """E rate (Hz) and CV of the 1 ms E count after 100 ms, H shuffled each step or not
    (both runs observed every step, so that they differ only by the shuffle)."""
    rng = np.random.default_rng(seed + 1000)
    NE = params.N_E

    def observe(t: float, s) -> None:
        if shuffle:
            s.H[:NE] = s.H[rng.permutation(NE)]
            s.H[NE:] = s.H[NE + rng.permutation(len(s.H) - NE)]

    res = simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, observer=observe)
    c = np.asarray(res.spike_counts_e, float)[int(100 / params.dt):]
    c1 = c[: len(c) // 10 * 10].reshape(-1, 10).sum(axis=1)
    return 1000 * c.mean() / params.dt / NE, float(c1.std() / c1.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tau", type=float, nargs="+", default=[2.0, 2.2, 2.4])
    ap.add_argument("--p-ei", type=float, default=0.8)
    ap.add_argument("--t-ms", type=float, default=1100.0)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    for tau in args.tau:
        p = NetworkParams().replace(p_EI=args.p_ei, tau_EE=tau)
        for shuffle in (False, True):
            out = [run(p, args.t_ms, s, shuffle) for s in range(args.seeds)]
            print(f"p_EI {args.p_ei} tau_EE {tau} {'shuffled' if shuffle else 'as is   '}: "
                  + "  ".join(f"E {r:.2f} Hz CV {cv:.2f}" for r, cv in out), flush=True)


if __name__ == "__main__":
    main()
