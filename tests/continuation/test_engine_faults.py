"""Fault injection on the continuation engine (issue 13, item 3): exceptions in the user's f,
invalid options, starts outside the bounds, a fold at the start point."""

import math

import numpy as np
import pytest

from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria


def _raising_problem(exc: Exception, p_fail: float = 0.5) -> ODEProblem:
    """x' = p - x, raising ``exc`` for p > p_fail."""
    def f(x, p):
        if p[0] > p_fail:
            raise exc
        return np.array([p[0] - x[0]])
    return ODEProblem(f, [0.0], [0.0], param_names=("p",))


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("missing"),
                                 ValueError("bad value"), ZeroDivisionError("div")])
def test_exception_in_user_f_ends_branch_with_partial_result_and_its_message(exc):
    br = continue_equilibria(_raising_problem(exc), ContinuationOptions(ds=0.1, p_max=2.0))
    assert not br.success
    assert br.status == "error"
    assert type(exc).__name__ in br.message
    assert str(exc.args[0]) in br.message
    assert "non-finite" not in br.message
    # the points before the failure are kept, and all lie on the curve x = p <= 0.5
    assert len(br) >= 4
    assert br.param_values.max() <= 0.5
    assert np.allclose(br.x[:, 0], br.param_values, atol=1e-9)
    assert br.special_points[-1].type == "EP"


def test_exception_in_user_jacobian_is_reported_too():
    def jac(x, p):
        if p[0] > 0.3:
            raise RuntimeError("jacobian exploded")
        return np.array([[-1.0]])
    pr = ODEProblem(lambda x, p: np.array([p[0] - x[0]]), [0.0], [0.0], dfdx=jac)
    br = continue_equilibria(pr, ContinuationOptions(ds=0.1, p_max=2.0))
    assert br.status == "error" and "RuntimeError: jacobian exploded" in br.message
    assert len(br) >= 3


def test_nan_in_user_f_is_still_a_step_failure_not_an_error():
    def f(x, p):
        return np.array([p[0] - x[0]]) * (np.nan if p[0] > 0.5 else 1.0)
    br = continue_equilibria(ODEProblem(f, [0.0], [0.0]), ContinuationOptions(ds=0.1, p_max=2))
    assert br.status == "nan" and not br.success


@pytest.mark.parametrize("kwargs, name", [
    (dict(ds=math.nan), "ds"),
    (dict(ds=math.inf), "ds"),
    (dict(ds=-0.1), "ds"),
    (dict(p_max=math.nan), "p_max"),
    (dict(p_min=math.nan), "p_min"),
    (dict(ds_min=math.nan), "ds_min"),
    (dict(ds_max=0.0), "ds_max"),
    (dict(direction=0), "direction"),
    (dict(direction=5), "direction"),
    (dict(direction=0.5), "direction"),
    (dict(max_steps=0), "max_steps"),
    (dict(max_steps=2.5), "max_steps"),
    (dict(newton_tol=math.nan), "newton_tol"),
    (dict(newton_max_iter=0), "newton_max_iter"),
    (dict(locate_tol=-1.0), "locate_tol"),
    (dict(max_angle=math.nan), "max_angle"),
    (dict(weights_param=math.nan), "weights_param"),
    (dict(bounds={"a": (1.0, math.nan)}), "bounds"),
    (dict(p_min=1.0, p_max=0.0), "p_min"),
])
def test_invalid_options_rejected_on_construction_with_one_line_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError) as err:
        ContinuationOptions(**kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(name)


def test_start_outside_bounds_rejected_before_work():
    calls = []

    def f(x, p):
        calls.append(1)
        return np.array([p[0] - x[0]])
    pr = ODEProblem(f, [5.0], [5.0], param_names=("p",))
    n0 = len(calls)
    with pytest.raises(ValueError, match="outside"):
        continue_equilibria(pr, ContinuationOptions(p_min=0.0, p_max=1.0))
    assert len(calls) == n0


def test_fold_at_the_start_point_is_labelled_lp_not_bp():
    # x' = -(p + x^2) started exactly at its fold (0, 0): the branch leaves along x and the
    # unstable count changes at the first point: that is the fold, not a branch point
    pr = ODEProblem(lambda x, p: -np.array([p[0] + x[0] ** 2]), [0.0], [0.0])
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, p_min=-1, p_max=1))
    types = [s.type for s in br.special_points]
    assert "BP" not in types
    (lp,) = br.points("LP")
    assert abs(lp.param) < 1e-9 and abs(lp.x[0]) < 1e-6
