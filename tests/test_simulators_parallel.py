"""The block-partitioned SNN kernel (simulate_snn, serial or parallel=True): its samplers,
seed semantics independent of the thread count and of the parallel flag."""

import math
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from scipy import stats

from bifsnn import NetworkParams, ParameterError
from bifsnn.network import _blocked
from bifsnn.network import _driver as drv
from bifsnn.network.snn import simulate_snn

P = NetworkParams()


def _state(seed):
    return np.random.default_rng(seed).integers(1, 2**63, size=4, dtype=np.uint64)


def test_ziggurat_draws_are_standard_normal():
    """2e6 draws: KS test, and the tails (|z| > 3, > 3.6541 = the base strip) by counts."""
    z = _blocked.normal_draws(_state(3), 2_000_000)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    for c in (1.0, 3.0, _blocked.ZIG_R, 4.5):
        n = int((np.abs(z) > c).sum())
        expect = 2 * stats.norm.sf(c) * z.size
        assert abs(n - expect) < 5 * math.sqrt(expect) + 1
    assert abs((z > 0).mean() - 0.5) < 5 * 0.5 / math.sqrt(z.size)


@pytest.mark.parametrize("lam", [10.0, 31.0, 250.0, 5000.0])
def test_ptrs_poisson_matches_poisson(lam):
    """Chi-square goodness of fit of 300000 PTRS draws over the central 1 - 2e-4 of the mass."""
    m = 300_000
    x = _blocked.poisson_draws(_state(int(lam)), lam, m)
    lo, hi = stats.poisson.ppf([1e-4, 1 - 1e-4], lam).astype(int)
    ks = np.arange(lo, hi + 1)
    expected = stats.poisson.pmf(ks, lam) * m
    observed = np.bincount(x - lo, minlength=hi - lo + 1)[: hi - lo + 1] if x.min() >= lo \
        else np.array([(x == k).sum() for k in ks])
    keep = expected > 5
    chi2 = (((observed - expected) ** 2)[keep] / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4
    assert abs(x.mean() - lam) < 5 * math.sqrt(lam / m)


def test_block_streams_are_jumped_and_distinct():
    st = _blocked.block_states(_state(0), 3)
    assert len({tuple(r) for r in st}) == 3
    np.testing.assert_array_equal(st[0], _state(0))
    # jumping twice from the start equals jumping once from block 1
    np.testing.assert_array_equal(_blocked.block_states(st[1], 2)[1], st[2])


@pytest.mark.parametrize("kw", [{}, {"connectivity": "quenched"}, {"drive": "poisson"}],
                         ids=["annealed", "quenched", "poisson"])
def test_same_seed_same_output_whatever_the_thread_count(kw):
    """N = 2400 (3 blocks): 1 and 2 threads give the same counts, raster and histograms."""
    p = P.scaled(6)
    runs = [simulate_snn(p, t_ms=60.0, seed=4, progress=False, parallel=True, threads=t,
                         raster_neurons="all", voltage_hist_every_ms=5.0, **kw)
            for t in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1)]
    a = runs[0]
    assert a.spike_counts_e.sum() > 0 and a.options["parallel"]
    for b in runs[1:]:
        for name in ("spike_counts_e", "spike_counts_i", "raster_neuron", "raster_step",
                     "voltage_hist_e", "voltage_hist_i"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = simulate_snn(p, t_ms=60.0, seed=5, progress=False, parallel=True, **kw)
    assert not np.array_equal(a.spike_counts_e, other.spike_counts_e)


@pytest.mark.parametrize("kw", [{}, {"parallel": True, "threads": 1},
                                {"connectivity": "quenched"}],
                         ids=["serial", "parallel", "quenched"])
def test_raster_does_not_change_the_output(kw):
    """Rastering every neuron bounds the raster buffer, which once shortened the kernel's
    chunks (at N = 2400: 1666 instead of 2000 steps) and so moved a chunk boundary through
    the fused pending/voltage pass and reordered the draws: the spike counts must not
    depend on which neurons are rastered."""
    p = P.scaled(6)
    opts = dict(t_ms=250.0, seed=3, progress=False) | kw  # 2500 steps: a boundary in both
    a = simulate_snn(p, **opts)
    b = simulate_snn(p, raster_neurons="all", **opts)
    assert a.spike_counts_e.sum() > 0
    np.testing.assert_array_equal(a.spike_counts_e, b.spike_counts_e)
    np.testing.assert_array_equal(a.spike_counts_i, b.spike_counts_i)


def test_chunk_length_depends_on_the_network_size_only():
    """Kernel chunks: at most 2000 steps and 4e6 neuron-steps, whatever is rastered."""
    assert drv.chunk_steps(10**6, 400) == 2000
    assert drv.chunk_steps(500, 400) == 500
    assert drv.chunk_steps(10**6, 2400) == 1666
    assert drv.chunk_steps(10**6, 10**7) == 1


@pytest.mark.parametrize("kw", [{}, {"connectivity": "quenched"}, {"drive": "poisson"}],
                         ids=["annealed", "quenched", "poisson"])
def test_serial_and_parallel_runs_are_bit_identical(kw):
    """simulate_snn(parallel=False) runs the same blocks and streams on one thread: N = 2400
    (3 blocks), same counts, raster and histograms as parallel=True."""
    p = P.scaled(6)
    opts = dict(t_ms=60.0, seed=3, progress=False, raster_neurons="all",
                voltage_hist_every_ms=5.0) | kw
    a = simulate_snn(p, **opts)
    b = simulate_snn(p, parallel=True, **opts)
    assert a.spike_counts_e.sum() > 0 and "parallel" not in a.options
    for name in ("spike_counts_e", "spike_counts_i", "raster_neuron", "raster_step",
                 "voltage_hist_e", "voltage_hist_i"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("kwargs, name", [({"threads": 2}, "threads"),
                                          ({"parallel": True, "threads": 0}, "threads"),
                                          ({"parallel": True, "threads": 10**6}, "threads"),
                                          ({"parallel": "yes"}, "parallel")])
def test_bad_parallel_options_rejected(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        simulate_snn(P, t_ms=10.0, progress=False, **kwargs)


def test_threads_option_restores_numba_thread_count():
    """threads=k holds for the run only; numba's chunk size is left alone."""
    before = numba.get_num_threads()
    chunk = numba.set_parallel_chunksize(3)
    try:
        simulate_snn(P, t_ms=5.0, progress=False, parallel=True, threads=1)
        assert numba.get_num_threads() == before
        assert numba.get_parallel_chunksize() == 3
    finally:
        numba.set_parallel_chunksize(chunk)


@pytest.mark.parametrize("p_ee", [0.8, 0.02], ids=["bits", "lists"])
def test_connectivity_built_by_threads_is_the_seeds_network(p_ee, monkeypatch):
    """The quenched network of a seed: row j is draws j n ... (j + 1) n - 1 of the run's
    generator compared with p[post, pre] (no self-connections), whether built on 1 or 3
    threads, as a bit matrix or as target lists; the generator ends in the same state."""
    from bifsnn.network import _driver as drv
    from bifsnn.network.snn import _quenched_connectivity

    params = P.replace(N_E=700, N_I=301, p_EE=p_ee, p_EI=p_ee, p_IE=p_ee, p_II=p_ee)
    monkeypatch.setattr("bifsnn.network.snn._BUILD_DOUBLES", 7 * 1001)  # several chunks
    _, p, _ = drv.pathway_arrays(params)
    pop = drv.population_index(params)
    n = len(pop)
    ref_rng = np.random.default_rng(11)
    expected = np.array([ref_rng.random(n) < p[pop, pop[j]] for j in range(n)])
    expected[np.arange(n), np.arange(n)] = False
    for workers in (1, 3):
        rng = np.random.default_rng(11)
        conn, indptr, indices = _quenched_connectivity(p, pop, rng, workers)
        if p_ee > drv.DENSE_MIN_P:
            bits = np.unpackbits(conn.view(np.uint8), axis=1, bitorder="little")
            np.testing.assert_array_equal(bits[:n, :n], expected)
            assert not bits[:, n:].any() and not bits[n].any()  # padding, zero row
        else:
            assert conn.size == 0
            np.testing.assert_array_equal(np.diff(indptr), expected.sum(axis=1))
            np.testing.assert_array_equal(indices, np.nonzero(expected)[1])
        assert rng.bit_generator.state == ref_rng.bit_generator.state


@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 64, 255, 1000, 3000])
def test_quenched_births_from_bits_count_every_row(count):
    """Births of a block from a bit matrix (row by row below 8 spikes, bit-sliced counters
    from 8 on) equal the direct count of the spiking rows' bits, last (partial) block
    included, repeated spikes and all."""
    rng = np.random.default_rng(count)
    n = 2 * _blocked.BLOCK + 300
    dense = rng.random((n, n)) < 0.8
    conn = np.zeros((n + 1, -(-n // 64)), np.uint64)
    conn.view(np.uint8)[:n, : (n + 7) // 8] = np.packbits(dense, axis=1, bitorder="little")
    spk = np.concatenate([rng.integers(0, n, 5), rng.integers(0, n, count), [0]])
    for lo in range(0, n, _blocked.BLOCK):
        hi = min(n, lo + _blocked.BLOCK)
        acc = np.full(3 * _blocked.BLOCK, -7, np.int32)
        planes = np.full((_blocked.plane_rows(count), _blocked.BLOCK // 64), 99, np.uint64)
        _blocked.quenched_births_bits(conn, spk, 5, count, acc, lo, hi, planes)
        expected = dense[spk[5:5 + count], lo:hi].sum(axis=0)
        np.testing.assert_array_equal(acc[lo:hi], expected)
        assert not acc[hi:-(-hi // 64) * 64].any()  # padding of the last word: no targets


def test_atomics_count_every_increment_and_claim_once():
    """atomic_add from every iteration of a prange loses no increment; of many
    compare-and-swaps of one slot from the same expected value exactly one succeeds."""
    from bifsnn.network._atomics import atomic_add, atomic_cas, atomic_load, atomic_store

    @numba.njit(parallel=True)
    def hammer(slots, n):
        wins = np.zeros(n, np.int64)
        for i in numba.prange(n):
            atomic_add(slots, 0, 1)
            atomic_add(slots, 8, i)
            wins[i] = atomic_cas(slots, 16, -1, i)
        atomic_store(slots, 24, atomic_load(slots, 0))
        return wins

    slots = np.zeros(32, np.int64)
    slots[16] = -1
    n = 20_000
    wins = hammer(slots, n)
    assert slots[0] == n and slots[8] == n * (n - 1) // 2 and slots[24] == n
    assert wins.sum() == 1 and slots[16] == np.flatnonzero(wins)[0]


_MANY_THREADS = """
import numpy as np
from bifsnn import NetworkParams
from bifsnn.network.snn import simulate_snn
p = NetworkParams().scaled(6)
for kw in ({}, {"connectivity": "quenched"}):
    runs = [simulate_snn(p, t_ms=30.0, seed=9, progress=False, raster_neurons="all",
                         voltage_hist_every_ms=5.0, parallel=t > 0, threads=t or None, **kw)
            for t in (0, 1, 4, 5)]
    for r in runs[1:]:
        for name in ("spike_counts_e", "spike_counts_i", "raster_neuron", "raster_step",
                     "voltage_hist_e", "voltage_hist_i"):
            assert np.array_equal(getattr(runs[0], name), getattr(r, name)), (kw, name)
print("same")
"""


def test_more_threads_than_blocks_and_cores_same_output():
    """4 and 5 threads on 3 blocks (more workers than blocks, more threads than cores: some
    claim nothing, some wait on preempted ones) give the serial run's output; needs
    NUMBA_NUM_THREADS = 5, hence a fresh interpreter."""
    env = dict(os.environ, NUMBA_NUM_THREADS="5")
    proc = subprocess.run([sys.executable, "-c", _MANY_THREADS], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("same")
