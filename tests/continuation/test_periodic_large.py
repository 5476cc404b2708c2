"""Cycle continuation of a large sparse system: K diffusively coupled Brusselators (n = 2K).

Known answers: the branch born at the Hopf point B = 1 + A^2 (A = 1, omega = 1) is spatially
homogeneous and equals the single-Brusselator cycle; with equal diffusion d for u and v the
Floquet multipliers are exactly {mu_j exp(-d s_k T)} with mu_j the multipliers of the single
cycle (1 and mu_2) and s_k = 2 - 2 cos(pi k / K) the eigenvalues of the no-flux Laplacian.
"""

import numpy as np
import pytest

from bifsnn.continuation import ContinuationOptions
from bifsnn.continuation.periodic import (
    CYCLE_DEFAULTS,
    Collocation,
    continue_cycles_from_orbit,
    cycle_from_hopf,
    solve_cycle,
)
from bifsnn.continuation.periodic.examples import brusselator_chain


def opts(**kw) -> ContinuationOptions:
    """Cycle continuation options: the cycle defaults with some fields changed."""
    return ContinuationOptions(**{**CYCLE_DEFAULTS, **kw})


def _run(K: int, steps: int, ntst: int, reuse_lu: bool = False):
    s = brusselator_chain(K)
    B = 2.0
    x = np.tile([1.0, B], K)
    lam, V = np.linalg.eig(s.jac(x, B))
    k = int(np.argmin(np.abs(lam - 1j)))
    assert abs(lam[k] - 1j) < 1e-12
    start = cycle_from_hopf(s, x, B, lam[k].imag, V[:, k], ntst=ntst)
    br = continue_cycles_from_orbit(s, start, opts(ds=0.1, max_steps=steps),
                                    Collocation(ntst=ntst, ncol=4, reuse_lu=reuse_lu))
    return s, br


def _check(K: int, br, ntst: int):
    assert len(br) >= 3
    pt = br.cycle(-1)
    assert pt.p > 2.01  # the branch really moved away from the Hopf point
    # homogeneous: every cell carries the same orbit (1e-9, Newton tolerance level)
    assert np.abs(pt.U[:, 0::2] - pt.U[:, [0]]).max() < 1e-8
    assert np.abs(pt.U[:, 1::2] - pt.U[:, [1]]).max() < 1e-8
    # equals the 2-variable Brusselator cycle at the same B: period and orbit to 1e-8
    one = solve_cycle(brusselator_chain(1), pt.tm, pt.U[:, :2], pt.T, pt.p, 4, adapt=0)
    assert one.success
    assert abs(one.T - pt.T) < 1e-8
    assert np.abs(one.U - pt.U[:, :2]).max() < 1e-7
    # the leading multipliers vs the exact spectrum (1e-6: collocation + Arnoldi accuracy)
    mu1 = one.floquet.multipliers  # 1 and mu_2 of the single cell
    sk = 2 - 2 * np.cos(np.pi * np.arange(K) / K)
    exact = np.sort(np.abs(np.concatenate([m * np.exp(-0.1 * sk * pt.T) for m in mu1])))[::-1]
    got = np.sort(np.abs(pt.multipliers))[::-1]
    nk = min(6, len(got))
    assert np.abs(got[:nk] - exact[:nk]).max() < 1e-6
    assert pt.floquet.trivial_error < 1e-6


@pytest.mark.parametrize("reuse_lu", [False, True])
def test_brusselator_chain_n50(reuse_lu):
    # n = 50 (Arnoldi Floquet path, n > 40), 5 steps; with factorisations carried across
    # steps (Anderson-accelerated chord, GMRES tangent) the same known answers hold
    _, br = _run(25, 5, 30, reuse_lu)
    assert not br.success and "max_steps" in br.message
    _check(25, br, 30)


@pytest.mark.slow
def test_brusselator_chain_n150():
    # n = 150, 8 continuation steps on 40 intervals of degree 4 (24 151 unknowns)
    _, br = _run(75, 8, 40)
    _check(75, br, 40)


def test_sparsity_detection_matches_given_pattern():
    # a dense analytic Jacobian (no pattern given) is sparsified from the start cycle's nodes;
    # the branch is the same as with the exact pattern (1e-10)
    from bifsnn.continuation.periodic import CycleSystem

    s_pat, br = _run(10, 3, 20)
    s_dense = CycleSystem(s_pat.f_user, s_pat.n, dfdx=s_pat.dfdx_user, dfdp=s_pat.dfdp_user,
                          vectorized=True)
    start = br.cycle(0)
    a = continue_cycles_from_orbit(s_pat, start, opts(ds=0.1, max_steps=2), Collocation(ntst=20))
    b = continue_cycles_from_orbit(s_dense, start, opts(ds=0.1, max_steps=2),
                                   Collocation(ntst=20))
    assert len(a) == len(b) == 3
    assert np.abs(a.param_values - b.param_values).max() < 1e-10
    assert np.abs(a.period - b.period).max() < 1e-10
    pat = s_dense.detect_sparsity(start.U, start.p)
    assert pat.sum() == s_pat.nnz  # tridiagonal-block pattern recovered exactly


@pytest.mark.slow
def test_reduced_neuron_model_cycle():
    # the project's 148-variable reduced model (docs/MODEL.md 5b, default parameters) has a sharp
    # MFE cycle; from a simulated trajectory the collocation cycle converges, the trivial
    # multiplier is 1 within 1e-5 and the period equals the simulated one within 1e-3
    # (trajectory sampled every 0.1 ms); two continuation steps in S_EE succeed.
    from bifsnn.continuation.periodic import (
        as_cycle_system,
        cycle_from_trajectory,
        detect_period,
    )
    from bifsnn.reduction import MarkovModelDef, simulate_ode

    m = MarkovModelDef().compile()
    res = simulate_ode(m, t_ms=500, record_every_ms=1.0)
    res2 = simulate_ode(m, t_ms=80, x0=res.extra["final_state"], record_every_ms=0.01)
    t, X = res2.extra["state_t_ms"], res2.extra["state"]
    T_sim, _, msg = detect_period(t, X)
    assert msg == "ok"
    s = as_cycle_system(m.ode_problem("S_EE"))
    sol = cycle_from_trajectory(s, t, X, s.params[s.ipar], ntst=60, ncol=4)
    assert sol.success, sol.message
    assert abs(sol.T - T_sim) < 1e-3 * T_sim
    assert sol.floquet.trivial_error < 1e-5
    br = continue_cycles_from_orbit(s, sol, opts(ds=0.05, max_steps=2), Collocation(ntst=60))
    assert len(br) == 3, br.message


@pytest.mark.slow
@pytest.mark.parametrize("reuse_lu", [False, True])
def test_reduced_neuron_model_p_ei_branch_special_points(reuse_lu):
    # Cycles of the reduced model in p_EI from the Hopf point near 0.9596 (25 steps,
    # ntst = 40). The full-Newton corrector before the chord/LU-reuse change found
    # NS 0.94739262, LPC 0.91031495, NS 0.91265844 (same numbers printed by both versions to
    # 8 digits); the fast corrector must reproduce them to 1e-6 (location tolerances are
    # 1e-8/1e-9 in the test functions, the rest is the Newton tolerance).
    from bifsnn import NetworkParams
    from bifsnn.continuation import continue_cycles, continue_equilibria
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    m = MarkovModelDef(NetworkParams().replace(p_EI=1.0), bin_rule="smooth").compile()
    prob = m.ode_problem("p_EI", x0=find_equilibrium(m).x)
    eq = continue_equilibria(prob, ContinuationOptions(ds=2, ds_max=20, p_min=0.9, p_max=1.0,
                                                       direction=-1))
    # (the carried-LU corrector's step control takes a few more steps to the second NS)
    br = continue_cycles(eq, eq.points("H")[0],
                         opts(max_steps=35 if reuse_lu else 25, p_min=0.9, p_max=1.0),
                         Collocation(ntst=40, reuse_lu=reuse_lu))
    got = [(s.type, s.param) for s in br.special_points if s.type != "EP"]
    want = [("NS", 0.94739262), ("LPC", 0.91031495), ("NS", 0.91265844)]
    assert [k for k, _ in got] == [k for k, _ in want], got
    for (_, p), (_, q) in zip(got, want, strict=True):
        assert abs(p - q) < 1e-6, (p, q)
    assert all(s.located for s in br.special_points)
    # trivial multiplier on the regular points (at the LPC a second multiplier is at 1 and
    # the Jordan pair splits by ~sqrt(rounding), 6e-6 there, in both versions)
    special = {s.index for s in br.special_points if s.type != "EP"}
    assert max(e for i, e in enumerate(br.extra["trivial_error"]) if i not in special) < 1e-8


def test_interval_propagator_matches_whole_lu():
    # the Floquet operator factorised interval by interval (block lower-bidiagonal C_rest)
    # gives the same monodromy products and multipliers as one LU of the whole C_rest
    from bifsnn.continuation.periodic import CollocationOperator
    from bifsnn.continuation.periodic.collocation import (
        _IntervalPropagator,
        floquet_from_jacobian,
    )

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    A = coll.jacobian(pt.U, pt.T, pt.p, coll.phase_reference(pt.U, pt.T, pt.p))
    C = A[: coll.ncoll, : coll.nU]
    prop = _IntervalPropagator(C, coll)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.standard_normal(coll.n)
        whole = coll.propagate_linear(A, v)[-1]
        assert np.abs(prop.propagate(v) - whole).max() < 1e-11 * max(1.0, np.abs(whole).max())
    # the block propagator from the cached block layout of A's pattern (one gather of
    # A.data, one ordering per pattern) gives the same products, to the last bit
    from bifsnn.continuation.periodic.collocation import _interval_propagator, _LayoutPropagator

    for _ in range(2):  # a new layout, then the cached one
        fast = _interval_propagator(A, coll)
        assert isinstance(fast, _LayoutPropagator)
        for _ in range(2):
            v = rng.standard_normal(coll.n)
            assert np.array_equal(fast.propagate(v), prop.propagate(v))
    arnoldi = floquet_from_jacobian(A, coll)  # n = 50 > 40: condensed monodromy
    dense = floquet_from_jacobian(A, coll, k=coll.n - 1)  # whole LU, dense monodromy
    for mu in arnoldi.multipliers:
        assert np.min(np.abs(dense.multipliers - mu)) < 1e-9


def _bordered_jacobian(seed: int):
    """(cycle, operator, phase reference, bordered Newton Jacobian with a random arclength
    row, rng) on the n = 50 chain's branch after 2 steps at ntst 30."""
    from bifsnn.continuation.periodic import CollocationOperator

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    rng = np.random.default_rng(seed)
    row = np.concatenate([np.repeat(coll.wnode, coll.n) * rng.standard_normal(coll.nU),
                          rng.standard_normal(2)])
    Fr = coll.phase_reference(pt.U, pt.T, pt.p)
    A = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row)
    return pt, coll, Fr, A, rng


def test_condensed_factorization_matches_superlu(monkeypatch):
    # the bordered Newton Jacobian (with the parameter column and an arclength row) solved
    # by condensation onto the first node equals SuperLU's solution of the whole matrix, and
    # its monodromy matrix equals the dense one from the whole C_rest (n = 50 > 40)
    from bifsnn.continuation.linalg import sparse_lu
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed

    pt, coll, Fr, A, rng = _bordered_jacobian(3)
    fac = cmod.factorize(A, coll)
    assert isinstance(fac, condensed.CondensedLU)
    lu = sparse_lu(A)
    for _ in range(2):
        b = rng.standard_normal(A.shape[0])
        x, ref = fac.solve(b), lu.solve(b)
        assert np.abs(x - ref).max() < 1e-10 * np.abs(ref).max()
        assert np.abs(A @ x - b).max() < 1e-9
    A2 = coll.jacobian(pt.U, pt.T, pt.p, Fr)
    dense = cmod.floquet_from_jacobian(A2, coll, vectors=True)  # whole LU, dense monodromy
    assert np.abs(cmod.factorize(A2, coll).monodromy - dense.monodromy).max() < 1e-11
    # switched off, or refused because the transfer products grow: SuperLU of the whole matrix
    monkeypatch.setattr(condensed, "GROWTH_MAX", 1e-3)
    cmod._LAST_CONDENSED.clear()
    assert not isinstance(cmod.factorize(A, coll), condensed.CondensedLU)
    monkeypatch.setattr(condensed, "GROWTH_MAX", 1e8)
    monkeypatch.setattr(cmod, "CONDENSED", False)
    assert not isinstance(cmod.factorize(A, coll), condensed.CondensedLU)


def test_compiled_block_lu_and_refactorisation_match_superlu(monkeypatch):
    # the interval blocks' compiled LU (partial pivoting) picks SuperLU's pivots and gives
    # the same condensation; the next Jacobian of the same pattern is refactorised with those
    # pivots (numeric only), or factorised anew when a kept pivot has become too small
    from bifsnn.continuation.periodic import CollocationOperator, condensed
    from bifsnn.continuation.periodic import collocation as cmod

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    Fr = coll.phase_reference(pt.U, pt.T, pt.p)
    A = coll.jacobian(pt.U, pt.T, pt.p, Fr)
    U2 = pt.U + 1e-3 * (pt.U - pt.U.mean(axis=0))  # a nearby cycle, same pattern
    A2 = coll.jacobian(U2, pt.T * 1.001, pt.p + 1e-3, Fr)
    lay = cmod._block_layout(A, coll)
    rng = np.random.default_rng(5)
    b = rng.standard_normal(A.shape[0])

    def same(f, g, tol=1e-11):
        M = np.abs(g.monodromy).max()
        assert np.abs(f.monodromy - g.monodromy).max() < tol * M
        x, y = f.solve(b), g.solve(b)
        assert np.abs(x - y).max() < tol * np.abs(y).max()

    monkeypatch.setattr(condensed, "COMPILED_LU", False)
    ref, ref2 = condensed.CondensedLU(A, coll, lay), condensed.CondensedLU(A2, coll, lay)
    monkeypatch.setattr(condensed, "COMPILED_LU", True)
    lay.lu_pattern = None
    new = condensed.CondensedLU(A, coll, lay)
    assert np.array_equal(new.pr, ref.pr)
    same(new, ref)
    n0 = condensed.STATS["refactor"]
    re = condensed.CondensedLU(A2, coll, lay)  # numeric refactorisation, kept pivots
    assert condensed.STATS["refactor"] == n0 + 1
    assert re.Li is new.Li and re.Lx is not new.Lx
    same(re, ref2)
    assert np.abs(A2 @ re.solve(b) - b).max() < 1e-9
    # one block's kept pivot too small (the pivot row of its longest L column scaled by
    # 1e-6, the whole equation): that block alone is factorised anew, the others keep their
    # refactorised values and pivots; the result equals SuperLU's condensation
    import scipy.sparse as sp

    mn = lay.mn
    k = int(np.argmax(np.diff(re.Lp[3])))
    s_row = np.ones(A2.shape[0])
    s_row[3 * mn + int(np.flatnonzero(re.pr[3] == k)[0])] = 1e-6
    A3 = sp.csc_matrix(sp.diags(s_row) @ A2)
    A3.sort_indices()
    kept = lay.lu_pattern
    monkeypatch.setattr(condensed, "COMPILED_LU", False)
    ref3 = condensed.CondensedLU(A3, coll, lay)
    monkeypatch.setattr(condensed, "COMPILED_LU", True)
    lay.lu_pattern = kept  # (the SuperLU path leaves none)
    n1, b1 = condensed.STATS["refactor_refused"], condensed.STATS["blocks_anew"]
    part = condensed.CondensedLU(A3, coll, lay)
    assert condensed.STATS["refactor_refused"] == n1 + 1
    assert condensed.STATS["blocks_anew"] == b1 + 1
    assert np.array_equal(part.pr[3], ref3.pr[3]) and np.array_equal(part.pr[4:], re.pr[4:])
    same(part, ref3, 1e-9)  # (the scaled row makes block 3 1e6 times worse conditioned)
    assert lay.lu_pattern[1] is part.Li  # the merged pattern is refactorised next time
    monkeypatch.setattr(condensed, "PARTIAL_REFACTOR", False)  # the previous rule: all anew
    b2 = condensed.STATS["blocks_anew"]
    whole = condensed.CondensedLU(A2, coll, lay)
    assert condensed.STATS["blocks_anew"] == b2 + coll.ntst
    same(whole, ref2)
    monkeypatch.setattr(condensed, "PARTIAL_REFACTOR", True)
    monkeypatch.setattr(condensed, "PIVOT_TOL", 2.0)  # no kept pivot passes: a new LU
    n1 = condensed.STATS["refactor_refused"]
    again = condensed.CondensedLU(A2, coll, lay)
    assert condensed.STATS["refactor_refused"] == n1 + 1 and again.Li is not new.Li
    same(again, ref2)


@pytest.mark.parametrize("switch", ["SUPERNODAL", "SMALL_ROW_INDEX"])
def test_supernodal_propagation_is_bit_identical(monkeypatch, switch):
    # the propagation by supernodes (8 updates fused per pass) applies every update of the
    # column-oriented kernel in the same order: monodromy, solutions and the transposed
    # solves (L's columns sorted by row, summed in the factorisation's order) equal bit for
    # bit, after a new factorisation, a refactorisation and a partial one, and on SuperLU's;
    # so do they with the factors' row indices as uint16 instead of uint32
    import scipy.sparse as sp

    from bifsnn.continuation.periodic import CollocationOperator, condensed
    from bifsnn.continuation.periodic import collocation as cmod

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    Fr = coll.phase_reference(pt.U, pt.T, pt.p)
    A = coll.jacobian(pt.U, pt.T, pt.p, Fr)
    U2 = pt.U + 1e-3 * (pt.U - pt.U.mean(axis=0))
    A2 = coll.jacobian(U2, pt.T * 1.001, pt.p + 1e-3, Fr)
    lay = cmod._block_layout(A, coll)
    b = np.random.default_rng(7).standard_normal(A.shape[0])
    f = A3 = None
    for compiled in (True, False):
        monkeypatch.setattr(condensed, "COMPILED_LU", compiled)
        lay.lu_pattern = None
        refused = condensed.STATS["refactor_refused"]
        for M in (A, A2, "A3"):
            if compiled and isinstance(M, str):
                # block 3's kept pivot made too small: that block anew, merged with the rest
                s_row = np.ones(A2.shape[0])
                k = int(np.argmax(np.diff(f.Lp[3])))
                s_row[3 * lay.mn + int(np.flatnonzero(f.pr[3] == k)[0])] = 1e-6
                A3 = sp.csc_matrix(sp.diags(s_row) @ A2)
                A3.sort_indices()
            M = A3 if isinstance(M, str) else M
            kept = lay.lu_pattern
            got = []
            for on in (False, True):
                monkeypatch.setattr(condensed, switch, on)
                lay.lu_pattern = kept
                f = condensed.CondensedLU(M, coll, lay)
                got.append((f.monodromy, f.solve(b), f.V, f.S_lu[0], f.Lx, f.Ux))
                if switch == "SMALL_ROW_INDEX" and kept is None:  # (a new factorisation)
                    assert f.Li.dtype == (np.uint16 if on else np.uint32)
            for x, y in zip(*got, strict=True):
                assert np.array_equal(x, y)
        assert not compiled or condensed.STATS["refactor_refused"] == refused + 2
    Ls, Lsp = f.sn[2], f.sn[3]
    assert np.diff(Ls[Lsp[0]:Lsp[1]]).max() > 8  # supernodes wider than one fused pass
    monkeypatch.setattr(condensed, switch, True)
    monkeypatch.setattr(condensed, "COMPILED_LU", True)


def test_block_layout_from_structure_equals_sliced(monkeypatch):
    # the interval blocks' layout from the collocation structure's entry positions equals
    # the one found by slicing the matrix block by block (bordered and plain Jacobians)
    from bifsnn.continuation.periodic import CollocationOperator
    from bifsnn.continuation.periodic import collocation as cmod

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    Fr = coll.phase_reference(pt.U, pt.T, pt.p)
    for A in (coll.jacobian(pt.U, pt.T, pt.p, Fr),
              coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=np.ones(coll.nU + 2))):
        assert cmod._BlockLayout._from_structure(A, coll) is not None
        lays = []
        for analytic in (True, False):
            monkeypatch.setattr(cmod, "ANALYTIC_LAYOUT", analytic)
            lays.append(cmod._BlockLayout(A, coll))
        for name in ("posA", "posDq", "q", "last", "last_to"):
            assert np.array_equal(getattr(lays[0], name), getattr(lays[1], name)), name
        for name, a in lays[0].kernel.items():
            assert np.array_equal(a, lays[1].kernel[name]), name
        assert all(np.array_equal(a, b) for a, b in zip(lays[0].patA, lays[1].patA, strict=True))


def test_reuse_lu_must_be_bool():
    with pytest.raises(ValueError, match="reuse_lu"):
        Collocation(reuse_lu=1)


def test_cycle_run_keeps_blas_on_one_thread_and_restores_it():
    # the stepper limits BLAS to one thread for the whole run (its spinning threads cost CPU
    # without shortening a step) and restores the caller's limit afterwards
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("no BLAS library reported by threadpoolctl")
    seen: list[set[int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        s = brusselator_chain(3)
        x = np.tile([1.0, 2.0], 3)
        lam, V = np.linalg.eig(s.jac(x, 2.0))
        k = int(np.argmin(np.abs(lam - 1j)))
        start = cycle_from_hopf(s, x, 2.0, lam[k].imag, V[:, k], ntst=10)
        br = continue_cycles_from_orbit(
            s, start, opts(ds=0.1, max_steps=2, progress=lambda info: seen.append(
                blas_threads())), Collocation(ntst=10, ncol=4))
        after = blas_threads()
    assert "max_steps" in br.message and len(seen) == 2
    assert all(t == {1} for t in seen)
    assert after == before


def test_collocation_jacobian_carries_its_pattern_key():
    # the collocation Jacobian carries the pattern key of its cached structure (no hashing of
    # its indices at every look-up); it equals the key computed from the matrix itself
    import scipy.sparse as sp

    from bifsnn.continuation.linalg import PATTERN_KEY_ATTR, _pattern_key
    from bifsnn.continuation.periodic import CollocationOperator

    s, br = _run(5, 1, 10)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    Fr = coll.phase_reference(pt.U, pt.T, pt.p)
    keys = set()
    for A in (coll.jacobian(pt.U, pt.T, pt.p, Fr),
              coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=np.ones(coll.nU + 2))):
        plain = sp.csc_matrix((A.data, A.indices, A.indptr), shape=A.shape)
        assert not hasattr(plain, PATTERN_KEY_ATTR)
        assert getattr(A, PATTERN_KEY_ATTR) == _pattern_key(plain)
        keys.add(_pattern_key(A))
    assert len(keys) == 2


def test_condensation_paths_of_cycspeed5(monkeypatch):
    # a monodromy-only condensation (the Floquet multipliers' n columns) completed later by
    # bordered() gives exactly the factorisation made with the border at once; a right-hand
    # side with a zero collocation part (a tangent's) skips the forward pass and still solves
    # A z = b; the Jacobians share their structure's read-only index arrays
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed

    pt, coll, Fr, A, rng = _bordered_jacobian(11)
    lay = cmod._block_layout(A, coll)
    whole = condensed.CondensedLU(A, coll, lay)
    mono = condensed.CondensedLU(A, coll, lay, border=False)
    assert mono._Z.shape[1] == coll.n and mono.S_lu is None
    assert np.array_equal(mono.monodromy, whole.monodromy)
    mono.bordered()
    assert np.array_equal(mono._Z, whole._Z)
    b = rng.standard_normal(A.shape[0])
    assert np.array_equal(mono.solve(b), whole.solve(b))
    e = np.zeros(A.shape[0])
    e[-1] = 1.0
    z = whole.solve(e)
    assert np.abs(A @ z - e).max() < 1e-9 * max(1.0, np.abs(z).max())
    B = coll.jacobian(pt.U, pt.T, pt.p, Fr)
    assert np.shares_memory(B.indices, coll.jacobian(pt.U, 1.1 * pt.T, pt.p, Fr).indices)
    assert not B.indices.flags.writeable and not B.indptr.flags.writeable
    assert B.has_sorted_indices


def test_start_newton_by_condensation_matches_superlu(monkeypatch):
    # Newton at fixed p (the start of a branch) solves by condensation for n > 40; the cycle
    # equals the one of the whole-system SuperLU Newton to rounding (n = 50)
    from bifsnn.continuation.periodic import CollocationOperator
    from bifsnn.continuation.periodic import collocation as cmod

    s, br = _run(25, 2, 30)
    pt = br.cycle(-1)
    coll = CollocationOperator(s, pt.tm, 4)
    U0 = pt.U * (1 + 1e-3 * np.cos(np.arange(pt.U.shape[0]))[:, None])
    called = []
    real = cmod.factorize
    monkeypatch.setattr(cmod, "factorize", lambda A, c: called.append(1) or real(A, c))
    a = coll.newton(U0, pt.T * 1.001, pt.p, Uref=pt.U)
    assert a.success and called
    monkeypatch.setattr(cmod, "CONDENSED_NEWTON", False)
    n_calls = len(called)
    b = coll.newton(U0, pt.T * 1.001, pt.p, Uref=pt.U)
    assert b.success and len(called) == n_calls
    assert a.iterations == b.iterations
    assert np.abs(a.U - b.U).max() < 1e-11 * np.abs(b.U).max()
    assert abs(a.T - b.T) < 1e-11 * b.T


def test_cycspeed8_paths_are_bit_identical(monkeypatch):
    # the collocation blocks written in CSC order, the A_j blocks gathered by a compiled
    # loop and the many-column propagation on a multiple of 4 columns (zero padding: the
    # plain Jacobian's 51 columns run as 52) give the same Jacobians, factorisations and
    # solutions bit for bit; the transposed block solve of two columns (sums in registers)
    # equals that of each column alone; the multipliers' Jacobian without its period
    # column's values gives the same multipliers
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed

    pt, coll, Fr, A, rng = _bordered_jacobian(13)
    row = np.concatenate([np.repeat(coll.wnode, coll.n) * rng.standard_normal(coll.nU),
                          rng.standard_normal(2)])
    assert coll._structure(True, True)[3] is not None  # the by-column scatter applies
    bs = [rng.standard_normal(A.shape[0]), rng.standard_normal(A.shape[0] - 1)]
    got = {}
    for on in (False, True):
        monkeypatch.setattr(cmod, "SCATTER_BY_COLUMN", on)
        monkeypatch.setattr(condensed, "COMPILED_GATHER", on)
        monkeypatch.setattr(condensed, "PAD_COLUMNS", on)
        out = []
        for M, b in ((coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row), bs[0]),
                     (coll.jacobian(pt.U, pt.T, pt.p, Fr), bs[1])):
            lay = cmod._block_layout(M, coll)
            lay.lu_pattern = None
            f = condensed.CondensedLU(M, coll, lay)
            out += [M.data, f.Ax, f.monodromy, f._Z, f.solve(b), f.V, f.S_lu[0]]
        got[on] = out
    assert got[True][10].shape[1] == coll.n + 1  # the padded run's Z is cut back
    for x, y in zip(got[False], got[True], strict=True):
        assert x.shape == y.shape and np.array_equal(x, y)
    e = rng.standard_normal((f.N * f.mn, 2))
    two = f._solve_rest_T(e)
    for c in range(2):
        assert np.array_equal(two[:, c], f._solve_rest_T(e[:, c:c + 1])[:, 0])
    mus = []
    for t_values in (True, False):
        M = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row, p_values=False,
                          t_values=t_values)
        mus.append(cmod.floquet_from_jacobian(M, coll).multipliers)
    assert np.array_equal(mus[0], mus[1])


def test_dense_block_condensation_matches_the_sparse_one(monkeypatch):
    # DenseCondensedLU (LAPACK LUs of the interval blocks) solves the bordered Newton system
    # and gives the monodromy matrix of the sparse-block condensation; factorize chooses it
    # for systems whose df/dx is dense (DENSE_BLOCK_DENSITY), and falls back to SuperLU of the
    # whole matrix when the products grow
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed, dense_blocks

    pt, coll, Fr, A, rng = _bordered_jacobian(5)
    assert coll.sys.nnz < 0.25 * coll.n**2 and not dense_blocks.dense_blocks(coll)
    cmod._LAST_CONDENSED.clear()
    assert type(cmod.factorize(A, coll)) is condensed.CondensedLU
    monkeypatch.setattr(dense_blocks, "DENSE_BLOCK_DENSITY", 0.0)
    assert dense_blocks.dense_blocks(coll)
    cmod._LAST_CONDENSED.clear()
    fac = cmod.factorize(A, coll)
    assert isinstance(fac, dense_blocks.DenseCondensedLU)
    ref = condensed.CondensedLU(A, coll, cmod._block_layout(A, coll))
    assert np.abs(fac.monodromy - ref.monodromy).max() < 1e-11 * np.abs(ref.monodromy).max()
    for _ in range(2):
        b = rng.standard_normal(A.shape[0])
        x, xr = fac.solve(b), ref.solve(b)
        assert np.abs(x - xr).max() < 1e-10 * np.abs(xr).max()
        assert np.abs(A @ x - b).max() < 1e-9
    lay = cmod._dense_layout(A, coll)
    mono = dense_blocks.DenseCondensedLU(A, coll, lay, border=False)
    assert mono.S_lu is None and mono._Z.shape[1] == coll.n
    # (the n columns alone, without the border's: the same products up to BLAS blocking)
    assert np.abs(mono.monodromy - fac.monodromy).max() < 1e-13 * np.abs(fac.monodromy).max()
    b = rng.standard_normal(A.shape[0])
    assert np.abs(mono.bordered().solve(b) - fac.solve(b)).max() < 1e-12 * np.abs(
        fac.solve(b)).max()
    monkeypatch.setattr(condensed, "GROWTH_MAX", 1e-3)
    cmod._LAST_CONDENSED.clear()
    assert not isinstance(cmod.factorize(A, coll), condensed.CondensedLU)


def test_dense_block_branch_equals_the_sparse_block_branch(monkeypatch):
    # the n = 50 chain's branch continued with dense interval blocks: the same steps, the
    # same points (1e-10) and multipliers (1e-9) as with the sparse blocks
    from bifsnn.continuation.periodic import dense_blocks

    _, sparse = _run(25, 3, 20)
    monkeypatch.setattr(dense_blocks, "DENSE_BLOCK_DENSITY", 0.0)
    _, dense = _run(25, 3, 20)
    assert len(dense) == len(sparse) == 3 and dense.param_values[-1] > 2.01
    assert np.abs(np.asarray(dense.param_values) - np.asarray(sparse.param_values)).max() < 1e-10
    assert np.abs(np.asarray(dense.period) - np.asarray(sparse.period)).max() < 1e-10
    a, b = dense.cycle(-1).multipliers, sparse.cycle(-1).multipliers
    assert np.abs(np.sort(np.abs(a)) - np.sort(np.abs(b))).max() < 1e-9


def test_start_newton_keeps_its_factorisation_for_dense_blocks(monkeypatch):
    # at fixed p, a system condensed with dense blocks keeps a factorisation while the steps
    # shrink 3x per iteration (chord Newton): fewer factorisations, the same cycle (its
    # convergence test is the full Newton's)
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import dense_blocks

    pt, coll, Fr, A, rng = _bordered_jacobian(7)
    calls = []
    real = cmod.factorize
    monkeypatch.setattr(cmod, "factorize", lambda A, c: calls.append(1) or real(A, c))
    U0 = pt.U * (1.0 + 1e-3 * rng.standard_normal(pt.U.shape))
    full = coll.newton(U0, pt.T * 1.001, pt.p)
    n_full = len(calls)
    monkeypatch.setattr(dense_blocks, "DENSE_BLOCK_DENSITY", 0.0)
    calls.clear()
    chord = coll.newton(U0, pt.T * 1.001, pt.p)
    assert full.success and chord.success
    assert len(calls) < n_full <= full.iterations
    assert abs(chord.T - full.T) < 1e-9 and np.abs(chord.U - full.U).max() < 1e-8


def test_asm14_paths_are_bit_identical(monkeypatch):
    # prefetch hints in the one-column passes, the scatter from df/dx values gathered per
    # collocation point, the refactorisation with fused supernode columns, the multipliers'
    # Jacobian without phase-row values and the lazy phase reference change no value:
    # Jacobians, factors, solutions, multipliers and a whole branch (n = 50 chain, 4 steps)
    # are the same bit for bit with the switches off and on
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed
    from bifsnn.continuation.periodic import stepper as stp

    pt, coll, Fr, A, rng = _bordered_jacobian(17)
    row = np.concatenate([np.repeat(coll.wnode, coll.n) * rng.standard_normal(coll.nU),
                          rng.standard_normal(2)])
    assert coll._structure(True, True)[3] is not None  # the by-column scatter applies
    b = rng.standard_normal(A.shape[0])
    got = {}
    for on in (False, True):
        monkeypatch.setattr(condensed, "PREFETCH_COLUMNS", 16 if on else 0)
        monkeypatch.setattr(cmod, "SCATTER_GATHERED", on)
        monkeypatch.setattr(condensed, "REFACTOR_SUPERNODAL", on)
        M = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row)
        lay = cmod._block_layout(M, coll)
        lay.lu_pattern = None
        f = condensed.CondensedLU(M, coll, lay)  # a new factorisation
        out = [M.data, f.Lx, f.Ux, f.solve(b),
               f.solve(np.r_[np.zeros(coll.ncoll), b[coll.ncoll:]])]
        # a refactorisation of another Jacobian of this pattern (supernodes of >= 4 columns)
        assert np.diff(f.sn[2].astype(np.int64)).max() >= 4
        M2 = coll.jacobian(pt.U * 1.01, pt.T, pt.p, Fr, with_p=True, border_row=row)
        n_ref = condensed.STATS["refactor"]
        f2 = condensed.CondensedLU(M2, coll, lay)
        assert condensed.STATS["refactor"] == n_ref + 1
        got[on] = out + [f2.Lx, f2.Ux, f2.monodromy, f2.solve(b)]
    for x, y in zip(got[False], got[True], strict=True):
        assert np.array_equal(x, y)
    mus = []
    for phase in (True, False):
        M = coll.jacobian(pt.U, pt.T, pt.p, Fr if phase else None, with_p=True,
                          border_row=row, p_values=False, t_values=False,
                          phase_values=phase)
        mus.append(cmod.floquet_from_jacobian(M, coll).multipliers)
    assert np.array_equal(mus[0], mus[1])
    runs = []
    for on in (False, True):
        monkeypatch.setattr(condensed, "PREFETCH_COLUMNS", 16 if on else 0)
        monkeypatch.setattr(cmod, "SCATTER_GATHERED", on)
        monkeypatch.setattr(stp, "FLOQUET_PHASE_VALUES", not on)
        monkeypatch.setattr(stp, "LAZY_PHASE_REFERENCE", on)
        monkeypatch.setattr(condensed, "REFACTOR_SUPERNODAL", on)
        _, br = _run(25, 4, 30)
        runs.append(br)
    assert len(runs[0]) == len(runs[1]) >= 4
    for i in range(len(runs[0])):
        a, c = runs[0].cycle(i), runs[1].cycle(i)
        assert np.array_equal(a.U, c.U) and a.T == c.T and a.p == c.p
        assert np.array_equal(a.multipliers, c.multipliers)


@pytest.mark.parametrize("supernodal", [True, False])
def test_condensation_on_threads_is_bit_identical(monkeypatch, supernodal):
    # Collocation.threads splits the refactorisation of the interval blocks and the
    # propagation's columns among threads: factors, monodromy, solutions and a whole branch
    # (n = 50 chain, 4 steps) are the same bit for bit as on one thread
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed

    monkeypatch.setattr(condensed, "REFACTOR_SUPERNODAL", supernodal)
    pt, coll, Fr, A, rng = _bordered_jacobian(23)
    row = np.concatenate([np.repeat(coll.wnode, coll.n) * rng.standard_normal(coll.nU),
                          rng.standard_normal(2)])
    b = rng.standard_normal(A.shape[0])
    got = {}
    for threads in (1, 2, 3):
        coll.threads = threads
        M = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row)
        lay = cmod._block_layout(M, coll)
        lay.lu_pattern = None
        f = condensed.CondensedLU(M, coll, lay)  # a new factorisation (serial)
        M2 = coll.jacobian(pt.U * 1.01, pt.T, pt.p, Fr, with_p=True, border_row=row)
        n_ref = condensed.STATS["refactor"]
        f2 = condensed.CondensedLU(M2, coll, lay)  # refactorised, on the threads
        assert condensed.STATS["refactor"] == n_ref + 1
        Md = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row, detect=True)
        pat = getattr(Md, "dfdx_pattern", None)
        got[threads] = [M.data, Md.data, np.zeros(1) if pat is None else pat, f.monodromy,
                        f.solve(b), f2.Lx, f2.Ux, f2.monodromy, f2.solve(b)]
    coll.threads = 1
    for threads in (2, 3):
        for x, y in zip(got[1], got[threads], strict=True):
            assert np.array_equal(x, y)
    runs = []
    for threads in (1, 2):
        s = brusselator_chain(25)
        x = np.tile([1.0, 2.0], 25)
        lam, V = np.linalg.eig(s.jac(x, 2.0))
        k = int(np.argmin(np.abs(lam - 1j)))
        start = cycle_from_hopf(s, x, 2.0, lam[k].imag, V[:, k], ntst=20)
        runs.append(continue_cycles_from_orbit(
            s, start, opts(ds=0.1, max_steps=4), Collocation(ntst=20, ncol=4, threads=threads)))
    a, b2 = runs
    assert len(a) == len(b2) == 4
    for key in ("param_values", "period", "multipliers"):
        assert np.array_equal(np.asarray(getattr(a, key)), np.asarray(getattr(b2, key)),
                              equal_nan=True)  # multipliers padded with NaN


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", 257])
def test_collocation_threads_out_of_range(bad):
    with pytest.raises(ValueError, match=r"threads = .* is out of range: must be an integer in "
                                         r"\[1, 256\]"):
        Collocation(threads=bad)


def test_thread_parts_cover_the_columns():
    from bifsnn.continuation.periodic.threads import parts as _parts

    assert _parts(152, 2, 4) == [(0, 76), (76, 152)]
    assert _parts(150, 2, 4) == [(0, 76), (76, 150)]
    assert _parts(40, 3) == [(0, 14), (14, 27), (27, 40)]
    assert _parts(1, 2) == [(0, 1)]


def _threaded_monodromy(queue) -> None:
    """Put the monodromy of a condensation on 2 threads (run in a forked child)."""
    from bifsnn.continuation.periodic import collocation as cmod
    from bifsnn.continuation.periodic import condensed

    pt, coll, Fr, A, rng = _bordered_jacobian(29)
    coll.threads = 2
    row = np.ones(A.shape[1])
    M = coll.jacobian(pt.U, pt.T, pt.p, Fr, with_p=True, border_row=row)
    queue.put(condensed.CondensedLU(M, coll, cmod._block_layout(M, coll)).monodromy)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threads_work_in_a_forked_child():
    # the parent's thread pool (used first here) does not exist in a forked child: the child
    # makes its own instead of waiting forever on the inherited one
    import multiprocessing as mp
    import time

    from bifsnn.continuation.periodic import threads

    jobs = [threads.pool(2).submit(time.sleep, 0.2) for _ in range(2)]
    for job in jobs:  # the parent's pool exists, with 2 idle threads
        job.result()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_threaded_monodromy, args=(q,))
    child.start()
    try:
        mono = q.get(timeout=60)  # a child waiting on the inherited pool never answers
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0 and np.all(np.isfinite(mono))
