"""MarkovModelDef: grid, state layout and validation."""

from __future__ import annotations

import numpy as np
import pytest

from bifsnn.params import NetworkParams, ParameterError
from bifsnn.reduction import MarkovModelDef


def test_default_grid_and_layout():
    d = MarkovModelDef()
    assert d.K == 35
    assert d.edges[0] == -40.0 and d.edges[-1] == 100.0
    assert d.edges[d.reset_bin] <= 0.0 < d.edges[d.reset_bin + 1]
    assert d.n_state == 4 * 35 + 8 == len(d.state_names)
    names = d.state_names
    assert names[d.slice("n", "I").start] == "n_I[0]"
    assert names[d.slice("A", "E").stop - 1] == "A_E[34]"
    assert names[d.moment_index("v", "IE")] == "v_IE"
    x = d.initial_state()
    np.testing.assert_array_equal(d.refractory(x), [0.0, 0.0])
    assert x[d.slice("n", "E")].sum() == 300 and x[d.slice("n", "I")].sum() == 100


def test_other_grid():
    d = MarkovModelDef(dv=2.0, v_min=-20.0)
    assert d.K == 60 and d.n_state == 248
    assert d.compile().rhs(d.initial_state()).shape == (248,)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(dv=3.0), "dv"),  # 140 / 3 bins: does not end at M
        (dict(dv=-4.0), "dv"),
        (dict(v_min=4.0), "v_min"),  # reset 0 below the lowest edge
        (dict(v_min=120.0), "v_min"),
        (dict(v_min=-68.0), "v_min"),  # below the inhibitory reversal -M_r
        (dict(bin_rule="linear"), "bin_rule"),
        (dict(outflow="abs"), "outflow"),
        (dict(eps=0.0), "eps"),
        (dict(h_min=0.0), "h_min"),
        (dict(delta=-1.0), "delta"),
        (dict(h=0.0), "h"),
        (dict(h=float("nan")), "h"),
        (dict(h=10.0), "h"),  # window longer than tau_R
        (dict(dv=float("inf")), "dv"),
    ],
)
def test_bad_definitions_rejected(kwargs, field):
    with pytest.raises(ParameterError, match=field):
        MarkovModelDef(**kwargs)


def test_reference_rule_allows_zero_eps():
    d = MarkovModelDef(bin_rule="reference", eps=0.0, h_min=0.0, delta=0.0)
    assert d.bin_rule == "reference"


def test_replace_routes_network_and_definition_fields():
    d = MarkovModelDef().replace(p_EI=0.5, delta=0.01)
    assert d.params.p_EI == 0.5 and d.delta == 0.01
    with pytest.raises(ParameterError, match="p_EI"):
        MarkovModelDef().replace(p_EI=1.5)
    d2 = MarkovModelDef(params=NetworkParams(M=80.0), v_min=-40.0)
    assert d2.K == 30 and d2.edges[-1] == 80.0
