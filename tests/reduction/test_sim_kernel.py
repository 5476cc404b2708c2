"""The explicit integrator's simulation kernel (docs/MODEL.md section 4, "kernel cut") and
its Runge-Kutta pairs against the model's kernel and a tight reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from bifsnn.reduction.integrate import KERNEL_CUT_SD, simulate_ode


def test_cut_table_drops_at_most_the_tail_of_one_neuron(smooth_model):
    # T[k] is the cut of a source with |n| < 2^-k: the smallest t with 2^-k Phi(-t) <=
    # Phi(-c) (to 1e-12), c itself for k = 0 (|n| >= 1/2), 0 once half the source is below
    mod = smooth_model.module
    for c in (5.0, 6.0, 7.5):
        T = mod.sim_cut_table(c)
        assert T.shape == (64,) and T[0] == c
        assert np.all(np.diff(T) <= 0) and T[-1] == 0.0
        nh = 2.0 ** -np.arange(64)
        assert np.all(nh * ndtr(-T) <= ndtr(-c) * (1 + 1e-9))
        inner = (T > 0) & (np.arange(64) > 0)
        assert np.all(nh[inner] * ndtr(-(T[inner] - 1e-9)) > ndtr(-c) * (1 - 1e-6))


def _states(model, rng):
    from conftest import random_state

    d = model.definition
    states = [random_state(d, rng, tiny=t) for t in (1e-4, 1e-9, 1e-14)]
    states[0][[0, 5, d.K + 3]] = 0.0  # empty bins: skipped as sources
    r = simulate_ode(model, t_ms=60.0, record_every_ms=3.0)
    return states + list(r.extra["state"])


def _both(model, x, T):
    """(out, fired) of the model's transport (8.5 sd) and of the simulation transport with
    cut table T."""
    mod, d = model.module, model.definition
    want = np.full(d.n_state, np.nan)
    k = d.K + 1
    fired = model.module.transport(x, model.pv, model.edges, model.opt, want, np.empty(k),
                                   np.empty(k))
    out = np.full(d.n_state, np.nan)
    W, S, I = mod.sim_work(d.K)
    got = mod._transport_sim(x, model.pv, model.edges, model.opt, out, T, W, S, I)
    return want[:4 * d.K], fired, out[:4 * d.K], np.array(got)


def test_simulation_transport_at_the_model_cut_is_the_model_kernel(smooth_model):
    # with every source cut at 8.5 sd the simulation transport is the model's up to the
    # round-off of its rearranged kernel (a wrong F or M1 formula moves it by O(1))
    d = smooth_model.definition
    T = np.full(64, KERNEL_CUT_SD)
    for x in _states(smooth_model, np.random.default_rng(5)):
        want, fired, out, got = _both(smooth_model, x, T)
        scale = np.abs(want).max()
        assert np.abs(out - want).max() <= 1e-13 * scale
        np.testing.assert_allclose(got, fired, rtol=1e-12, atol=1e-14 * d.params.N_E)


@pytest.mark.parametrize("cut", [6.0, 5.0])
def test_simulation_transport_drops_only_the_stated_tail(smooth_model, cut):
    # at cut c every source loses at most max(|n_j|, 1) Phi(-c) at either end (sources
    # below 1/2 neuron are cut narrower, sim_cut_table): the occupations move by at most a
    # few such tails in total, the firing by at most one per source; N stays conserved
    d = smooth_model.definition
    K = d.K
    T = smooth_model.module.sim_cut_table(cut)
    for x in _states(smooth_model, np.random.default_rng(9)):
        want, fired, out, got = _both(smooth_model, x, T)
        for q in range(2):
            n = x[2 * K * q: 2 * K * q + K]
            tail = ndtr(-cut) * np.maximum(np.abs(n), 1.0).sum()
            dn = out[2 * K * q: 2 * K * q + K] - want[2 * K * q: 2 * K * q + K]
            assert np.abs(dn).sum() <= 4 * tail + 1e-12 * np.abs(n).sum()
            assert abs(got[q] - fired[q]) <= tail + 1e-12 * np.abs(n).sum()
            total = out[2 * K * q: 2 * K * q + K].sum() + got[q]
            assert abs(total - n.sum()) <= 1e-12 * np.abs(n).sum()


def test_tsitouras_pair_matches_the_tight_reference_with_fewer_steps(smooth_model):
    # 300 ms of the default oscillation from the initial state (the first MFEs included) at
    # the default tolerances, against the model's kernel at rtol 1e-10: the default pair
    # (Tsitouras 5(4)) stays within the error of the former one (Dormand-Prince 5(4)) and
    # needs fewer steps; a wrong coefficient costs either the accuracy or the steps
    ref = simulate_ode(smooth_model, t_ms=300.0, kernel_cut_sd=KERNEL_CUT_SD, rtol=1e-10,
                       atol=1e-12, explicit_method="dopri5")
    ts = simulate_ode(smooth_model, t_ms=300.0)
    dp = simulate_ode(smooth_model, t_ms=300.0, explicit_method="dopri5")
    assert ts.options["method"] == "tsit5" and dp.options["method"] == "dopri5"
    assert ts.options["success"] and dp.options["success"]

    def errors(r):
        xr = ref.extra["final_state"]
        state = np.abs(r.extra["final_state"] - xr).max() / np.abs(xr).max()
        cr = ref.spike_counts_e
        count = np.abs(r.spike_counts_e - cr).max() / cr.max()
        rate = abs(r.spike_counts_e.sum() / cr.sum() - 1.0)
        return np.array([state, count, rate])

    e_ts, e_dp = errors(ts), errors(dp)
    assert np.all(e_ts <= 1.5 * e_dp), (e_ts, e_dp)
    assert e_ts[0] < 1e-3 and e_ts[1] < 1e-3
    assert ts.options["n_steps"] <= 0.93 * dp.options["n_steps"]
    with pytest.raises(ValueError, match="explicit_method"):
        simulate_ode(smooth_model, t_ms=1.0, explicit_method="rk45")
