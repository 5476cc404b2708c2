"""Starting the SNN and the Markov model from a chosen state (e.g. the ODE's equilibrium)."""

import numpy as np
import pytest

from bifsnn.network.markov import simulate_markov
from bifsnn.network.params import NetworkParams, ParameterError
from bifsnn.network.snn import simulate_snn
from bifsnn.network.states import (
    NetworkState,
    state_from_reduced,
    voltage_histogram,
)
from bifsnn.reduction import MarkovModelDef, find_equilibrium, simulate_ode

P = NetworkParams()


@pytest.fixture(scope="module")
def equilibrium():
    d = MarkovModelDef(params=P)
    eq = find_equilibrium(d)
    assert eq.success
    return d, eq


def test_state_reproduces_the_reduced_histogram(equilibrium):
    d, eq = equilibrium
    st = state_from_reduced(d, eq.x, seed=1)
    he, hi, R = voltage_histogram(st, P, d.edges)
    for pop, h in (("E", he), ("I", hi)):
        n = eq.x[d.slice("n", pop)]
        assert np.max(np.abs(h - n)) <= 1.0  # largest-remainder rounding
        assert h.sum() + R["EI".index(pop)] == P.N(pop)
        # bin means reproduce A/n in occupied bins (even spread over the within-bin density)
        A = eq.x[d.slice("A", pop)]
        lo = 0 if pop == "E" else P.N_E
        V = st.V[lo:lo + P.N(pop)][~st.refractory[lo:lo + P.N(pop)]]
        j = int(np.argmax(n))
        in_bin = V[(V >= d.edges[j]) & (V < d.edges[j + 1])]
        assert in_bin.mean() == pytest.approx(A[j] / n[j], abs=1e-9)
    np.testing.assert_allclose(R, d.refractory(eq.x), atol=1.0)
    # pending spikes: population mean and variance as in the moments (sampling error)
    for q, (a, b) in enumerate(((0, P.N_E), (P.N_E, P.N_E + P.N_I))):
        for src in range(2):
            h = st.H[a:b, src]
            m, v = st.m[q, src], st.v[q, src]
            assert h.mean() == pytest.approx(m, abs=4 * np.sqrt(v / h.size) + 1e-9)
            assert h.var() == pytest.approx(v, rel=0.5, abs=0.05)
    assert st.m[0, 0] == pytest.approx(eq.x[d.moment_index("m", "EE")])
    assert st.v[1, 0] == pytest.approx(eq.x[d.moment_index("v", "IE")])


def test_snn_starts_from_the_state(equilibrium):
    """After one step the SNN's histogram is the state's (up to one step of drift), and it
    fires at the equilibrium rate from the start instead of the default start's silence."""
    d, eq = equilibrium
    st = state_from_reduced(d, eq.x, seed=2)
    he0, _, _ = voltage_histogram(st, P, d.edges)
    kw = dict(t_ms=10.0, seed=3, progress=False, voltage_hist_every_ms=0.1,
              voltage_hist_edges=d.edges)
    r = simulate_snn(P, initial_state=st, **kw)
    r0 = simulate_snn(P, **kw)
    tv = 0.5 * np.abs(r.voltage_hist_e[0] - he0).sum() / P.N_E
    tv0 = 0.5 * np.abs(r0.voltage_hist_e[0] - he0).sum() / P.N_E
    assert tv < 0.1 < 0.5 < tv0
    assert r.options["initial_state"] == "given"
    # the first 10 ms of one run fire at 25-90 Hz (MFEs): average 8 seeds (sd of the mean ~5 Hz)
    spikes = [simulate_snn(P, initial_state=st, t_ms=10.0, seed=s, progress=False)
              .spike_counts_e.sum() for s in range(3, 11)]
    rate_hz = 1000 * np.mean(spikes) / 10.0 / P.N_E
    assert rate_hz == pytest.approx(eq.rate_e_hz, rel=0.5)
    assert r0.spike_counts_e[:20].sum() == 0  # from V = 0 nobody reaches threshold in 2 ms


def test_zero_state_is_the_default_start():
    """A NetworkState of the default initial condition gives bit-identical output."""
    n = P.N_E + P.N_I
    zero = NetworkState(V=np.zeros(n), refractory=np.zeros(n, bool),
                        H=np.zeros((n, 2), np.int64), m=np.zeros((2, 2)), v=np.zeros((2, 2)))
    for sim in (simulate_snn, simulate_markov):
        a = sim(P, t_ms=50.0, seed=7, progress=False)
        b = sim(P, t_ms=50.0, seed=7, progress=False, initial_state=zero)
        np.testing.assert_array_equal(a.spike_counts_e, b.spike_counts_e)
        np.testing.assert_array_equal(a.spike_counts_i, b.spike_counts_i)


def test_markov_model_starts_from_the_moments(equilibrium):
    d, eq = equilibrium
    st = state_from_reduced(d, eq.x, seed=4)
    r = simulate_markov(P, t_ms=1.0, seed=5, progress=False, initial_state=st)
    # the first ms fires at about the equilibrium's 12 spikes/ms (the default start: 0);
    # later the unstable equilibrium gives way to an MFE
    assert 0.3 * eq.rate_e < r.spike_counts_e.sum() < 2.5 * eq.rate_e


def test_history_dependence_in_the_bistable_range():
    """p_EI = 0.8, tau_EE = 2.8: the ODE has a stable equilibrium and a large cycle.  The
    SNN's first 30 ms from the cycle's low phase differ from those from the equilibrium."""
    params = NetworkParams(p_EI=0.8, tau_EE=2.8)
    d = MarkovModelDef(params=params)
    x_cycle = simulate_ode(d.replace(tau_EE=2.5), t_ms=600.0).extra["final_state"]
    x_cycle = simulate_ode(d, t_ms=400.0, x0=x_cycle).extra["final_state"]
    eq = find_equilibrium(d)
    assert eq.success and eq.stable
    peaks = []
    for x in (eq.x, x_cycle):
        st = state_from_reduced(d, x, seed=0)
        r = simulate_snn(params, t_ms=30.0, seed=1, progress=False, initial_state=st)
        peaks.append(np.convolve(r.spike_counts_e / 0.1, np.ones(10) / 10).max())
    assert peaks[1] > 2 * peaks[0]  # an MFE from the cycle state, none from the equilibrium


def test_bad_initial_state_raises():
    with pytest.raises(ParameterError, match="initial_state"):
        simulate_snn(P, t_ms=1.0, initial_state="eq", progress=False)
    n = P.N_E + P.N_I
    bad = NetworkState(V=np.zeros(n - 1), refractory=np.zeros(n, bool),
                       H=np.zeros((n, 2), np.int64), m=np.zeros((2, 2)), v=np.zeros((2, 2)))
    with pytest.raises(ParameterError, match="initial_state.V"):
        simulate_markov(P, t_ms=1.0, initial_state=bad, progress=False)
    with pytest.raises(ParameterError, match="x has shape"):
        state_from_reduced(MarkovModelDef(params=P), np.zeros(3))
