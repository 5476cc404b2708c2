"""Where do the SNN's MFEs fade out in p_EI? (issue 11, regime-boundary target)

SNN at the defaults (tau_EE = 1.4 ms) for p_EI = 0.84, 0.86, ..., 1.00, seeds 0 and 1, 2 s
after a 100 ms transient: per-neuron E rate, SSI_E, MFE peaks per second and mean MFE peak
height (smoothed E rate, spikes/ms), seed means.  Compare with the Hopf points of the reduced
ODE's p_EI branch (``benchmarks/bench_closures.py``).

Usage: ``nice -n 10 python analyses/snn_pei_scan.py``
"""

from __future__ import annotations

import numpy as np

from bifsnn import NetworkParams
from bifsnn.network.observables import summary
from bifsnn.network.snn import simulate_snn


def main() -> None:
    for pe in np.round(np.arange(0.84, 1.001, 0.02), 2):
        out = []
        for seed in (0, 1):
            r = simulate_snn(NetworkParams().replace(p_EI=float(pe)), t_ms=2100, seed=seed,
                             progress=False)
            s = summary(r, transient_ms=100)
            out.append((s["rate_e_hz"], s["ssi_e"], s["n_peaks"] / 2.0,
                        np.mean(s["peak_heights"] or [0])))
        o = np.mean(out, axis=0)
        print(f"p_EI {pe:.2f} E {o[0]:.1f} Hz SSI_E {o[1]:.3f} MFE/s {o[2]:.1f} "
              f"peak {o[3]:.0f}", flush=True)


if __name__ == "__main__":
    main()
