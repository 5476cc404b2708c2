"""Where the 2-thread SNN kernel's time goes, step by step (issue 14 item 2).

    python benchmarks/snn_parallel_phases.py --sizes 25 --t-ms 300 --repeats 3

Runs ``simulate_snn(parallel=True)`` on 1 and on T threads (alternated, same seed per pair)
with ``_blocked.parallel_steps`` replaced by an instrumented copy of its loop (the same
``_block_pass`` / ``_step_tail`` calls, claims and waits; its spike counts are checked equal
to the library kernel's) that reads the CPU's time-stamp counter at each thread's wait for
a step's tail and around its block passes and the tail.  Per step of a T-thread run it
derives: the step's duration (from the first thread leaving the wait for step k to the
first leaving it for step k + 1), each thread's busy time in block passes, the blocks taken
from another thread's range (steals), the tail and the skew between the threads' starts.

A step is *clean* when every thread ran at least one block, nothing was stolen and the
threads started within 5 us of each other: no thread was descheduled or late.  Printed per
size and connectivity: the whole-run wall speed-up 1 -> T; the clean-step speed-up (median
1-thread step over median clean T-thread step); per clean step the synchronisation overhead
(step minus the busiest thread's block passes), the tail, and the imbalance of the threads'
busy times; and how much of the T-thread kernel time the other (disturbed) steps add over the
clean median.  The kernel's own per-step synchronisation is what a clean step shows; what
disturbed steps add is the machine (a descheduled thread holds up the block it is in).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snn_phases import _rdtsc, tick_hz  # noqa: E402

from bifsnn.network import _blocked  # noqa: E402
from bifsnn.network._atomics import (  # noqa: E402
    atomic_add,
    atomic_cas,
    atomic_load,
    atomic_store,
    spin_pause,
)
from bifsnn.network._blocked import (  # noqa: E402
    _CLAIMS,
    _DONE,
    _ENTERED,
    _LINE,
    _TAILS,
    _WRITTEN,
    _block_histogram,
    _block_pass,
    _step_tail,
)
from bifsnn.network.params import NetworkParams  # noqa: E402
from bifsnn.network.snn import simulate_snn  # noqa: E402

#: Columns of the record: wait start, wait end, busy ticks, blocks stolen, tail ticks.
_W0, _W1, _BUSY, _STOLEN, _TAIL = range(5)


@numba.njit(parallel=True)
def _timed_parallel_steps(
    V, refr, H, pop, a_syn, lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
    p_leave, quenched, conn, indptr, indices, births, spiked, blk_cnt, blk_ne, blk_ni, n_prev,
    tables, ust, step0, n, counts, mask, rbuf_n, rbuf_s, hist_every, e0, de, hist, hist_ref,
    n_workers, rec,
):
    """``_blocked.parallel_steps`` with per-worker, per-step ticks written to ``rec``."""
    nb = ust.shape[0]
    sync = np.zeros(_CLAIMS + _LINE * nb, dtype=np.int64)
    hpart = np.zeros((nb, 2, hist.shape[2]), dtype=np.int64)
    hrpart = np.zeros((nb, 2), dtype=np.int64)
    for b in range(nb):
        sync[_CLAIMS + _LINE * b] = -1
    for _w in numba.prange(n_workers):
        me = atomic_add(sync, _ENTERED, 1)
        own_lo = min(me, n_workers) * nb // n_workers
        own_hi = min(me + 1, n_workers) * nb // n_workers
        n_own = own_hi - own_lo
        for k in range(n + 1):
            spins = 0
            t0 = _rdtsc()
            while atomic_load(sync, _TAILS) < k:
                spin_pause(spins)
                spins += 1
            t1 = _rdtsc()
            cur = (step0 + k) % 2
            ne_prev = atomic_load(n_prev, 0)
            ni_prev = atomic_load(n_prev, 1)
            hist_now = k < n and hist_every > 0 and (step0 + k + 1) % hist_every == 0
            busy = np.uint64(0)
            stolen = 0
            tail = np.uint64(0)
            for j in range(nb):
                if j < n_own:
                    b = own_lo + j
                else:
                    b = nb - 1 - (j - n_own)
                    if b < own_hi:
                        b -= n_own
                slot = _CLAIMS + _LINE * b
                if atomic_load(sync, slot) != k - 1 or not atomic_cas(sync, slot, k - 1, k):
                    continue
                c0 = _rdtsc()
                _block_pass(b, k > 0, k < n, cur, ne_prev, ni_prev, V, refr, H, pop, a_syn,
                            lam_dt, drive_poisson, drive_cdf, M, M_r, V_reset, leak_dt,
                            p_leave, quenched, conn, indptr, indices, births, spiked,
                            blk_cnt, blk_ne, blk_ni, tables, ust)
                if hist_now:
                    _block_histogram(b, V, refr, pop, e0, de, hpart, hrpart)
                busy += _rdtsc() - c0
                if b < own_lo or b >= own_hi:
                    stolen += 1
                if atomic_add(sync, _DONE, 1) == (k + 1) * nb - 1 and k < n:
                    c1 = _rdtsc()
                    written = _step_tail(step0 + k, cur, pop, quenched, spiked, blk_cnt,
                                         blk_ne, blk_ni, n_prev, tables, counts, mask, rbuf_n,
                                         rbuf_s, atomic_load(sync, _WRITTEN), hist_every,
                                         hpart, hrpart, hist, hist_ref)
                    atomic_store(sync, _WRITTEN, written)
                    atomic_store(sync, _TAILS, k + 1)
                    tail = _rdtsc() - c1
            if k < n and me < rec.shape[0]:
                s = step0 + k
                rec[me, s, _W0] = t0
                rec[me, s, _W1] = t1
                rec[me, s, _BUSY] = busy
                rec[me, s, _STOLEN] = stolen
                rec[me, s, _TAIL] = tail
    return atomic_load(sync, _WRITTEN)


def timed_run(params: NetworkParams, conn: str, t_ms: float, threads: int, seed: int
              ) -> tuple[np.ndarray, float, np.ndarray]:
    """One instrumented run: (record (threads, steps, 5) in ticks, wall s, E spike counts)."""
    steps = int(round(t_ms / params.dt))
    rec = np.zeros((threads, steps, 5), np.uint64)
    kernel = _blocked.parallel_steps
    _blocked.parallel_steps = lambda *a: _timed_parallel_steps(*a, rec)
    try:
        w0 = time.perf_counter()
        res = simulate_snn(params, t_ms=t_ms, seed=seed, progress=False, connectivity=conn,
                           parallel=True, threads=threads)
        wall = time.perf_counter() - w0
    finally:
        _blocked.parallel_steps = kernel
    return rec, wall, res.spike_counts_e


def step_table(rec: np.ndarray, hz: float, chunk: int) -> dict[str, np.ndarray]:
    """Per-step durations, busy times, steals, tail and start skew (us) of one record; the
    first and last step of every kernel call (``chunk`` steps) are left out."""
    r = rec.astype(float)
    n = r.shape[1]
    idx = np.array([s for s in range(n - 1) if s % chunk != 0 and (s + 1) % chunk != 0])
    start = r[:, idx, _W1].min(0)
    nxt = r[:, idx + 1, _W1].min(0)
    return {"step": (nxt - start) / hz * 1e6,
            "busy": r[:, idx, _BUSY] / hz * 1e6,
            "stolen": r[:, idx, _STOLEN].sum(0),
            "tail": r[:, idx, _TAIL].sum(0) / hz * 1e6,
            "skew": (r[:, idx, _W1].max(0) - start) / hz * 1e6}


def analyse(one: dict[str, np.ndarray], many: dict[str, np.ndarray]) -> dict[str, float]:
    """Clean-step speed-up, synchronisation overhead, imbalance and the disturbed steps'
    excess for one (1-thread, T-thread) pair of step tables."""
    busy = many["busy"]
    clean = (busy > 0).all(0) & (many["stolen"] == 0) & (many["skew"] < 5.0)
    step1 = float(np.median(one["step"]))
    if not clean.any():
        return {"clean_share": 0.0, "step_1": step1}
    cs = many["step"][clean]
    med = float(np.median(cs))
    over = cs - busy[:, clean].max(0)
    b = busy[:, clean]
    total = float(many["step"].sum())
    excess = float(np.clip(many["step"][~clean] - med, 0, None).sum())
    return {"clean_share": float(clean.mean()), "step_1": step1, "step_clean": med,
            "speedup_clean": step1 / med, "speedup_kernel": float(one["step"].sum()) / total,
            "sync_us": float(np.median(over)), "tail_us": float(np.median(many["tail"][clean])),
            "tail_share_1": float(np.median(one["tail"])) / step1,
            "imbalance": float(np.median(b.max(0) / b.mean(0) - 1)),
            "busy_clean": [float(x) for x in np.median(b, axis=1)],
            "disturbed_excess_share": excess / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[25])
    ap.add_argument("--connectivity", nargs="+", default=["annealed", "quenched"])
    ap.add_argument("--t-ms", type=float, default=300.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    hz = tick_hz()
    chunk = 2000  # steps per kernel call (bifsnn.network._driver.run_chunked)
    for conn in args.connectivity:  # compile / load the kernels
        simulate_snn(NetworkParams(), t_ms=2.0, progress=False, connectivity=conn,
                     parallel=True, threads=threads)
        timed_run(NetworkParams(), conn, 2.0, threads, 0)
    for k in args.sizes:
        params = NetworkParams().scaled(k) if k != 1 else NetworkParams()
        for conn in args.connectivity:
            for rep in range(args.repeats):
                load = os.getloadavg()[0]
                rec1, w1, c1 = timed_run(params, conn, args.t_ms, 1, rep)
                recm, wm, cm = timed_run(params, conn, args.t_ms, threads, rep)
                ref = simulate_snn(params, t_ms=20.0, seed=rep, progress=False,
                                   connectivity=conn, parallel=True, threads=threads)
                same = (np.array_equal(c1, cm)
                        and np.array_equal(c1[:len(ref.spike_counts_e)], ref.spike_counts_e))
                a = analyse(step_table(rec1, hz, chunk), step_table(recm, hz, chunk))
                head = (f"N={params.N_E + params.N_I} {conn} round {rep + 1}: wall 1 -> "
                        f"{threads} threads {w1 / wm:.2f}")
                if "speedup_clean" not in a:
                    print(f"{head}; no clean step (load {load:.1f})", flush=True)
                    continue
                print(f"{head}, kernel steps {a['speedup_kernel']:.2f}; clean steps "
                      f"{100 * a['clean_share']:.0f} %: speed-up {a['speedup_clean']:.2f} "
                      f"({a['step_1']:.1f} -> {a['step_clean']:.1f} us), sync overhead "
                      f"{a['sync_us']:.2f} us ({100 * a['sync_us'] / a['step_clean']:.1f} %), "
                      f"tail {a['tail_us']:.2f} us (1 thread {100 * a['tail_share_1']:.2f} % "
                      f"of a step), busy {' / '.join(f'{x:.1f}' for x in a['busy_clean'])} us "
                      f"(imbalance {100 * a['imbalance']:.1f} %); disturbed steps add "
                      f"{100 * a['disturbed_excess_share']:.0f} % of the {threads}-thread "
                      f"kernel time; same counts as the library kernel: {same}; load "
                      f"{load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
