"""Cost of the SNN kernel's chunk length, in one process (issue 14: no silent regressions).

    python benchmarks/snn_chunk_length.py --sizes 25 250 --rounds 4

The driver calls the kernel in chunks of ``_driver.chunk_steps(n_steps, N)`` steps (at most
2000 and 4e6 neuron-steps, so N = 10^4 runs 400-step chunks).  Until 2 Dec the chunk was 2000
steps unless a large raster shortened it, which changed the output (a chunk boundary splits
the fused pending/voltage pass).  This script times ``simulate_snn`` with the current rule
against chunks of 2000 steps (the former rule without a raster), alternating the two in every
round, serial and parallel (numba's threads), and prints the CPU ns per neuron-step of each
and their ratio (CPU time serial, wall time parallel; min over rounds, and the median of the
per-round ratios).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bifsnn.network import _driver as drv
from bifsnn.network.params import NetworkParams
from bifsnn.network.snn import simulate_snn

CURRENT = drv.chunk_steps


def former(n_steps: int, n_neurons: int) -> int:
    """The former chunk length without a raster: 2000 steps."""
    return int(max(1, min(n_steps, 2000)))


def timed(params: NetworkParams, t_ms: float, seed: int, parallel: bool, rule) -> float:
    """Seconds of one run with chunk rule ``rule``: CPU serial, wall parallel."""
    clock = time.perf_counter if parallel else time.process_time
    drv.chunk_steps = rule
    try:
        t0 = clock()
        simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, parallel=parallel)
        return clock() - t0
    finally:
        drv.chunk_steps = CURRENT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[25.0, 250.0],
                    help="network sizes as multiples of N = 400 (default 25 250)")
    ap.add_argument("--t-ms", type=float, default=400.0, help="model time per run (ms)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--serial-only", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for k in args.sizes:
        params = NetworkParams().scaled(k)
        n = params.N_E + params.N_I
        steps = round(args.t_ms / params.dt)
        for parallel in (False,) if args.serial_only else (False, True):
            timed(params, 20.0, 0, parallel, CURRENT)  # compile / warm
            cur, old = [], []
            for r in range(args.rounds):
                pair = [(CURRENT, cur), (former, old)]
                for rule, out in (pair if r % 2 == 0 else pair[::-1]):
                    out.append(timed(params, args.t_ms, r, parallel, rule) / (n * steps) * 1e9)
            ratio = np.median(np.array(cur) / np.array(old))
            print(f"N = {n:6d} {'parallel' if parallel else 'serial  '} chunks "
                  f"{CURRENT(steps, n):4d} / 2000: ns per neuron-step min "
                  f"{min(cur):6.2f} / {min(old):6.2f}, median ratio of rounds {ratio:.3f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
