"""equilibrium_grid: marching Newton over two parameters, with exact known answers."""

from __future__ import annotations

import numpy as np
import pytest

from bifsnn.continuation import ODEProblem
from bifsnn.continuation.grid import equilibrium_grid


def hopf_normal_form() -> ODEProblem:
    """x' = (mu - b) x - y - x r^2, y' = x + (mu - b) y - y r^2: the origin, eigenvalues
    (mu - b) +- i, unstable exactly where mu > b."""
    def f(u, p):
        mu, b = p
        x, y = u
        r2 = x * x + y * y
        a = mu - b
        return np.array([a * x - y - x * r2, x + a * y - y * r2])

    return ODEProblem(f, [0.0, 0.0], [-1.0, 0.0], param="mu", param_names=("mu", "b"))


def sqrt_branch() -> ODEProblem:
    """x' = a - x^2 + 0 * b: equilibria x = +-sqrt(a) only for a > 0 (x = +sqrt(a) stable)."""
    return ODEProblem(lambda u, p: np.array([p[0] - u[0] ** 2 + 0.0 * p[1]]), [1.0],
                      [1.0, 0.0], param="a", param_names=("a", "b"))


def test_stability_counts_exact_on_the_hopf_normal_form():
    mu = np.array([-0.5, -0.1, 0.3, 0.7])
    b = np.array([0.0, 0.5])
    g = equilibrium_grid(hopf_normal_form(), "mu", mu, "b", b)
    assert g.success and g.message == "ok"
    assert g.params == ("mu", "b")
    # rows b, columns mu: unstable (2 eigenvalues, a complex pair) exactly where mu > b
    assert g.n_unstable.tolist() == [[0, 0, 2, 2], [0, 0, 0, 2]]
    assert np.allclose(g.leading.real, mu[None, :] - b[:, None], atol=1e-12)
    assert np.allclose(np.abs(g.leading.imag), 1.0, atol=1e-12)
    assert np.all(g.states == 0.0)


def test_follows_the_connected_branch_and_reports_failures():
    # from x = 1 at a = 1 the grid follows x = +sqrt(a) (stable), never jumps to -sqrt(a);
    # at a = -0.5 there is no equilibrium: reported as failed (-1, NaN), not guessed
    g = equilibrium_grid(sqrt_branch(), "a", [0.25, 1.0, 4.0, -0.5], "b", [0.0])
    assert g.n_unstable.tolist() == [[0, 0, 0, -1]]
    assert g.states[0, :3, 0] == pytest.approx([0.5, 1.0, 2.0], abs=1e-9)
    assert np.isnan(g.states[0, 3, 0]) and not g.found[0, 3]
    assert not g.success and "a=-0.5" in g.message


@pytest.mark.parametrize("kw, name", [
    (dict(values1=[]), "values1"),
    (dict(values2=[[0.0]]), "values2"),
    (dict(values1=[0.0, np.nan]), "values1"),
    (dict(param2="mu"), "param2"),
    (dict(max_param_step=(0.1, 0.0)), "max_param_step"),
    (dict(tol=-1.0), "tol"),
    (dict(max_iter=0), "max_iter"),
])
def test_bad_input_is_named(kw, name):
    args = dict(param1="mu", values1=[0.0], param2="b", values2=[0.0])
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        equilibrium_grid(hopf_normal_form(), **args)
