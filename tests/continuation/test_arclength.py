"""The generic pseudo-arclength engine: accuracy, bounds, modification between steps,
sparse/dense agreement and graceful failure."""

import numpy as np
import pytest
import scipy.sparse as sp

from bifsnn.continuation.arclength import ArclengthContinuation


def circle(u):
    return np.array([u[0] ** 2 + u[1] ** 2 - 1.0])


def test_circle_points_on_curve_and_land_exactly_on_bound():
    cont = ArclengthContinuation(circle, np.array([1.0, 0.0]), ds=0.05, ds_max=0.2,
                                 max_steps=200, bounds={1: (-2.0, 0.8)})
    pts = [r.u for r in cont]
    assert cont.status == "bound" and cont.success
    # every point on the unit circle to the Newton tolerance (1e-9)
    assert max(abs(np.hypot(*u) - 1) for u in pts) < 1e-9
    # the last point lies exactly on the bound (tolerance 1e-12)
    assert abs(pts[-1][1] - 0.8) < 1e-12
    # tangents are unit and consistently oriented (p increasing)
    assert np.all(np.diff([u[1] for u in pts]) > 0)


def test_goes_around_fold_and_direction_control():
    G = lambda u: np.array([u[1] + u[0] ** 2])  # noqa: E731  fold at (0, 0)
    cont = ArclengthContinuation(G, np.array([-1.0, -1.0]), ds=0.1, ds_max=0.2,
                                 max_steps=100, bounds={1: (-1.5, 1.0)}, direction=+1)
    us = np.array([r.u for r in cont])
    assert cont.status == "bound"
    assert us[-1, 0] > 1.0  # passed the fold onto the other side
    assert abs(us[-1, 1] + 1.5) < 1e-12
    cont2 = ArclengthContinuation(G, np.array([-1.0, -1.0]), ds=0.1, ds_max=0.2,
                                  max_steps=100, bounds={1: (-1.5, 1.0)}, direction=-1)
    first = cont2.step()
    assert first.ok and first.u[1] < -1.0


def test_sparse_and_dense_jacobians_agree():
    n = 50
    A = sp.diags([np.full(n - 1, 1.0), np.full(n, -3.0), np.full(n - 1, 1.0)], [-1, 0, 1],
                 format="csc")
    b = np.ones(n)

    def G(u):
        x, p = u[:n], u[n]
        return A @ x + p * b + 0.1 * x**3

    def dG_sparse(u):
        x = u[:n]
        return sp.hstack([A + sp.diags(0.3 * x**2), sp.csc_matrix(b[:, None])], format="csc")

    def dG_dense(u):
        return dG_sparse(u).toarray()

    u0 = np.zeros(n + 1)
    runs = []
    for dG in (dG_sparse, dG_dense):
        cont = ArclengthContinuation(G, u0, dG, ds=0.1, ds_max=0.1, max_steps=20)
        runs.append(np.array([r.u for r in cont]))
    assert runs[0].shape == runs[1].shape
    assert np.max(np.abs(runs[0] - runs[1])) < 1e-10


def test_replace_system_between_steps():
    """A client changes the curve mid-run (e.g. new radius): later points follow it."""
    cont = ArclengthContinuation(circle, np.array([1.0, 0.0]), ds=0.05, ds_max=0.05,
                                 max_steps=100)
    for _ in range(3):
        assert cont.step().ok
    G2 = lambda u: np.array([u[0] ** 2 + u[1] ** 2 - 1.1**2])  # noqa: E731
    cont.replace(G=G2, dG=lambda u: np.array([[2 * u[0], 2 * u[1]]]))
    res = cont.step()
    assert res.ok and abs(np.hypot(*res.u) - 1.1) < 1e-9


def test_try_step_and_restore_state_do_not_commit():
    cont = ArclengthContinuation(circle, np.array([1.0, 0.0]), ds=0.1, max_steps=10)
    state = cont.save_state()
    trial = cont.try_step(0.05)
    assert trial.ok and cont.n_steps == 0
    np.testing.assert_array_equal(cont.u, state["u"])
    cont.accept(trial)
    assert cont.n_steps == 1
    cont.restore_state(state)
    assert cont.n_steps == 0 and np.array_equal(cont.u, state["u"])


def test_max_steps_is_reported():
    cont = ArclengthContinuation(circle, np.array([1.0, 0.0]), ds=0.01, ds_max=0.01,
                                 max_steps=7)
    pts = list(cont)
    assert len(pts) == 7
    assert cont.status == "max_steps" and not cont.success
    assert "maximum number of steps" in cont.message


def test_nan_stops_with_partial_curve():
    # x = sqrt(1 - p) is undefined for p > 1: NaN residuals beyond
    G = lambda u: np.array([u[0] - np.sqrt(1.0 - u[1])])  # noqa: E731
    with np.errstate(invalid="ignore"):
        cont = ArclengthContinuation(G, np.array([1.0, 0.0]), ds=0.1, ds_max=0.1,
                                     ds_min=1e-6, max_steps=100)
        pts = [r.u for r in cont]
    assert cont.status == "nan" and not cont.success
    assert "non-finite" in cont.message
    assert len(pts) >= 5 and all(u[1] <= 1.0 for u in pts)


def test_exception_in_G_fails_the_step_not_the_branch():
    """A G that raises LinAlgError (as a minimally augmented system whose inner factorisation
    meets non-finite entries does) must fail the step, not the branch.  On the unit circle
    the predictor of a step ds lands ~ds^2/2 off the curve; in the band 0.4 < p < 0.7 G
    raises there when that is above 1e-3, so steps must shrink to ~0.04 to get through,
    then the run must recover and reach the bound."""

    def G(u):
        off = abs(u[0] ** 2 + u[1] ** 2 - 1.0)
        if 0.4 < u[1] < 0.7 and off > 1e-3:
            raise np.linalg.LinAlgError("matrix has non-finite entries")
        return np.array([u[0] ** 2 + u[1] ** 2 - 1.0])

    cont = ArclengthContinuation(G, np.array([1.0, 0.0]), ds=0.2, ds_max=0.2, ds_min=1e-6,
                                 max_steps=200, bounds={1: (-1.0, 0.9)})
    pts = [r.u for r in cont]
    assert cont.status == "bound" and cont.success, cont.message
    assert pts[-1][1] == pytest.approx(0.9)
    assert np.allclose([u[0] ** 2 + u[1] ** 2 for u in pts], 1.0, atol=1e-8)
    assert "LinAlgError" in cont.last_error  # the band was hit and survived

    def G_bad(u):
        if u[1] > 0.5:
            raise np.linalg.LinAlgError("matrix has non-finite entries")
        return np.array([u[0] - u[1]])

    cont = ArclengthContinuation(G_bad, np.array([0.0, 0.0]), ds=0.2, ds_max=0.2,
                                 ds_min=1e-6, max_steps=100)
    pts = [r.u for r in cont]
    assert cont.status == "nan" and not cont.success
    assert "LinAlgError" in cont.last_error
    assert len(pts) >= 2 and all(u[1] <= 0.5 for u in pts)


def test_step_size_floor_reported():
    # Newton allowed a single iteration on a nonlinear curve: never converges -> ds_min
    cont = ArclengthContinuation(circle, np.array([1.0, 0.0]), ds=0.1, ds_min=1e-3,
                                 newton_max_iter=1, newton_tol=1e-14, max_steps=10,
                                 correct_initial=False)
    res = cont.step()
    assert not res.ok and cont.status == "ds_min" and not cont.success
    assert "ds_min" in cont.message


@pytest.mark.parametrize("direction", [1, -1])
def test_initial_tangent_of_vertical_curve(direction):
    # x = 0.5 for all p? no: the curve p = 0 (vertical in p); direction index x
    G = lambda u: np.array([u[1]])  # noqa: E731
    cont = ArclengthContinuation(G, np.array([0.0, 0.0]), ds=0.1, max_steps=3,
                                 direction_index=0, direction=direction)
    us = np.array([r.u for r in cont])
    assert np.all(np.abs(us[:, 1]) < 1e-12)
    assert np.sign(us[-1, 0]) == direction
