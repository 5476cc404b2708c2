"""Where a parallel SNN step's time goes, measured on one thread (issue 14 item 2).

    python benchmarks/snn_phases.py --sizes 25 --t-ms 1150     # N = 10^4, both connectivities

Runs ``simulate_snn`` with the serial kernel replaced by an instrumented copy of its step loop
(the same ``_block_pass`` and ``_step_tail`` calls, so the same output) that reads the CPU's
time-stamp counter around every block pass and every step's serial tail.  Prints, per size
and connectivity: the CPU time outside the kernel (set-up: tables, quenched connectivity;
the Python driver between chunks) as a share of the run; the median per step of the block
passes and of the tail (medians, since on a shared machine preemption inflates single
steps); the two halves of the static split that numba's ``omp`` layer gives two threads
(blocks 0 .. ceil(nb / 2) - 1 and the rest) and their imbalance; and the Amdahl bound on the
1 -> 2 thread speed-up that these serial parts and this imbalance leave (with the set-up
serial, and with it split over the two threads, as the quenched connectivity's build mostly
is: its random fill and compare release the GIL).
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from bifsnn.network import _blocked
from bifsnn.network.params import NetworkParams
from bifsnn.network.snn import simulate_snn


@intrinsic
def _rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.uint64(), codegen


@numba.njit
def _ticks():
    return _rdtsc()


@numba.njit
def _timed_steps(V, refr, H, pop, a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset,
                 leak_dt, p_leave, quenched, conn, indptr, indices, births, spiked, blk_cnt,
                 blk_ne, blk_ni, n_prev, tables, ust, step0, n, counts, mask, rbuf_n, rbuf_s,
                 hist_every, e0, de, hist, hist_ref, t_blk, t_tail):
    """``_blocked.serial_steps`` with the ticks of every block pass and tail recorded."""
    nb = ust.shape[0]
    hpart = np.zeros((nb, 2, hist.shape[2]), dtype=np.int64)
    hrpart = np.zeros((nb, 2), dtype=np.int64)
    written = 0
    for k in range(n + 1):
        cur = (step0 + k) % 2
        ne_prev = n_prev[0]
        ni_prev = n_prev[1]
        hist_now = k < n and hist_every > 0 and (step0 + k + 1) % hist_every == 0
        for b in range(nb):
            c0 = _rdtsc()
            _blocked._block_pass(b, k > 0, k < n, cur, ne_prev, ni_prev, V, refr, H, pop,
                                 a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset,
                                 leak_dt, p_leave, quenched, conn, indptr, indices, births,
                                 spiked, blk_cnt, blk_ne, blk_ni, tables, ust)
            if hist_now:
                _blocked._block_histogram(b, V, refr, pop, e0, de, hpart, hrpart)
            t_blk[step0 + k, b] = _rdtsc() - c0
        if k == n:
            break
        c0 = _rdtsc()
        written = _blocked._step_tail(step0 + k, cur, pop, quenched, spiked, blk_cnt, blk_ne,
                                      blk_ni, n_prev, tables, counts, mask, rbuf_n, rbuf_s,
                                      written, hist_every, hpart, hrpart, hist, hist_ref)
        t_tail[step0 + k] = _rdtsc() - c0
    return written


def tick_hz() -> float:
    """Time-stamp counter ticks per second (against perf_counter over 0.3 s)."""
    a, t = _ticks(), time.perf_counter()
    time.sleep(0.3)
    return (_ticks() - a) / (time.perf_counter() - t)


def phases(params: NetworkParams, conn: str, t_ms: float, seed: int = 0) -> dict[str, float]:
    """One instrumented single-thread run; shares and medians as described above."""
    n = params.N_E + params.N_I
    nb = -(-n // _blocked.BLOCK)
    steps = int(round(t_ms / params.dt))
    t_blk = np.zeros((steps + 1, nb), np.uint64)
    t_tail = np.zeros(steps + 1, np.uint64)
    kernel_cpu = []

    def timed(*args):
        c0 = time.process_time()
        out = _timed_steps(*args, t_blk, t_tail)
        kernel_cpu.append(time.process_time() - c0)
        return out

    serial = _blocked.serial_steps
    _blocked.serial_steps = timed
    try:
        c0 = time.process_time()
        simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, connectivity=conn)
        cpu = time.process_time() - c0
    finally:
        _blocked.serial_steps = serial
    hz = tick_hz()
    blk = t_blk[:steps].astype(float) / hz * 1e6
    tail = t_tail[:steps].astype(float) / hz * 1e6
    half = -(-nb // 2)
    h0 = np.median(blk[:, :half].sum(1))
    h1 = np.median(blk[:, half:].sum(1))
    step_us = float(np.median(blk.sum(1)))
    tail_us = float(np.median(tail))
    outside = (cpu - sum(kernel_cpu)) / cpu
    imbalance = max(h0, h1) / ((h0 + h1) / 2) - 1
    serial_share = tail_us / (step_us + tail_us)
    # 2 threads: the passes split with the imbalance, tail serial; set-up counted as serial
    inside = 1 - outside
    passes = inside * (serial_share + (1 - serial_share) * (1 + imbalance) / 2)
    t2 = outside + passes
    t2_par = outside / 2 + passes
    return {"N": n, "steps": steps, "cpu_s": cpu, "outside_share": outside,
            "kernel_chunks": len(kernel_cpu), "step_blocks_us": step_us, "tail_us": tail_us,
            "tail_share": serial_share, "half0_us": float(h0), "half1_us": float(h1),
            "imbalance": imbalance, "amdahl_2_threads": 1 / t2, "amdahl_2_par_setup": 1 / t2_par,
            "block_us": [float(x) for x in np.median(blk, axis=0)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[25])
    ap.add_argument("--connectivity", nargs="+", default=["annealed", "quenched"])
    ap.add_argument("--t-ms", type=float, default=1150.0)
    args = ap.parse_args()
    for conn in args.connectivity:  # compile / load the kernels
        simulate_snn(NetworkParams(), t_ms=2.0, progress=False, connectivity=conn)
        phases(NetworkParams(), conn, 2.0)
    print(f"load average {os.getloadavg()}")
    for k in args.sizes:
        for conn in args.connectivity:
            r = phases(NetworkParams().scaled(k), conn, args.t_ms)
            print(f"N={r['N']} {conn}, {r['steps']} steps, one thread: outside the kernel "
                  f"{100 * r['outside_share']:.2f} % of {r['cpu_s']:.2f} CPU-s "
                  f"({r['kernel_chunks']} kernel calls); per step (medians) block passes "
                  f"{r['step_blocks_us']:.1f} us, tail {r['tail_us']:.2f} us "
                  f"({100 * r['tail_share']:.2f} %); static halves {r['half0_us']:.1f} / "
                  f"{r['half1_us']:.1f} us (imbalance {100 * r['imbalance']:.1f} %); Amdahl "
                  f"bound on 2 threads {r['amdahl_2_threads']:.2f} with the set-up serial, "
                  f"{r['amdahl_2_par_setup']:.2f} with it split in two; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            print("  block passes (us, median): "
                  + " ".join(f"{x:.1f}" for x in r["block_us"]), flush=True)


if __name__ == "__main__":
    main()
