"""Clear one-line errors for common mistakes (issue 9, item 'errors')."""

import warnings

import numpy as np
import pytest
from test_equilibria import hopf_normal_form

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria, hopf_data


def test_hopf_data_missing_point_is_a_clear_error():
    br = continue_equilibria(hopf_normal_form(-1.0),
                             ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match=r"point = 3 is out of range: .* 1 Hopf point"):
            hopf_data(br, 3)
    with pytest.raises(ValueError, match="out of range"):
        br.point(17, "H")


def test_scalar_parameter_error_says_p_is_an_array():
    def f(x, p):  # written as if p were a float
        return np.array([p * x[0] - x[1], x[0] + p * x[1]])

    with pytest.raises(ValueError, match=r"parameter vector is always a 1-D array.*p\[0\]"):
        ODEProblem(f, [1.0, 0.0], 2.0)
    with pytest.raises(ValueError, match="always a 1-D array"):
        ODEProblem(lambda x, p: -x, [1.0], [[1.0, 2.0]])
    # a scalar p0 with f written for the array works
    pr = ODEProblem(lambda x, p: p[0] * x, [1.0], 2.0)
    assert pr.p0.shape == (1,)
