"""Run helpers of the switching analyses: seeded, cached, started from the ODE's states."""

import numpy as np
import pytest

from bifsnn import NetworkParams
from bifsnn.analysis.switching import (
    initial_state,
    peak_rate_series,
    run_counts,
    run_name,
    size_factor,
)
from bifsnn.network.params import ParameterError
from bifsnn.reduction import MarkovModelDef, find_equilibrium

D = MarkovModelDef(params=NetworkParams(p_EI=0.8, tau_EE=2.8))


def test_runs_are_seeded_and_cached(tmp_path):
    a, cpu = run_counts("snn", D, t_ms=60.0, seed=3, start="eq", cache=tmp_path)
    assert cpu > 0 and a.shape == (600,)
    path = tmp_path / run_name("snn", D, 3, 60.0, "eq")
    assert path.name == "snn_p0.8_tau2.8_k1.0_s3_eq_T60.npz" and path.exists()
    b, _ = run_counts("snn", D, t_ms=60.0, seed=3, start="eq")  # recomputed, no cache
    np.testing.assert_array_equal(a, b)
    c, _ = run_counts("snn", D, t_ms=60.0, seed=4, start="eq")
    assert not np.array_equal(a, c)
    # the cached file is read back, not recomputed
    np.savez_compressed(path, e=np.zeros(600, np.float32), cpu_s=0.0)
    z, _ = run_counts("snn", D, t_ms=60.0, seed=3, start="eq", cache=tmp_path)
    assert not z.any()


def test_start_from_the_equilibrium_differs_from_the_default():
    """From the ODE's equilibrium the SNN fires at about its rate at once; the default start
    (all neurons at rest) first fires less in the first 5 ms."""
    eq = find_equilibrium(D)
    np.testing.assert_array_equal(initial_state(D, "eq"), eq.x)
    assert initial_state(D, "default") is None
    e_eq, _ = run_counts("snn", D, t_ms=5.0, seed=1, start="eq")
    e_def, _ = run_counts("snn", D, t_ms=5.0, seed=1)
    expected = eq.rate_e * 5.0  # spikes in 5 ms at the equilibrium's rate
    assert e_eq.sum() == pytest.approx(expected, rel=0.5)
    assert e_def.sum() < 0.5 * e_eq.sum()


def test_sde_runs_and_series():
    d = D.replace(params=D.params.scaled(2.0))
    assert size_factor(d) == 2.0
    e, _ = run_counts("sde", d, t_ms=120.0, seed=1, start="eq")
    t, peak, rate = peak_rate_series(e, d, window_ms=50.0, skip_ms=20.0)
    np.testing.assert_allclose(t, [45.0, 95.0])
    assert np.all(peak >= rate) and np.all(rate > 0)


def test_bad_arguments_raise():
    with pytest.raises(ParameterError, match="model"):
        run_counts("lif", D, t_ms=1.0, seed=0)
    with pytest.raises(ParameterError, match="start"):
        run_counts("snn", D, t_ms=1.0, seed=0, start="cycle2")
    with pytest.raises(ParameterError, match="source"):
        initial_state(D, "cycle")
