"""Exact derivatives of a vector field given as sympy expressions (for
:meth:`bifsnn.continuation.problem.ODEProblem.from_sympy`).

``f``, ``dfdx`` (n x n), ``dfdp`` (n x n_params) and the directional derivatives
``d2f(x, p, u, v) = sum_jk d^2 f/dx_j dx_k u_j v_k`` and
``d3f(x, p, u, v, w) = sum_jkl d^3 f/dx_j dx_k dx_l u_j v_k w_l`` (and ``d4f``, ``d5f``, generated
on first call) are differentiated by sympy
and printed as numpy functions by ``lambdify`` (with common-subexpression elimination).  The
directional forms are built by differentiating the scalar ``D f . u`` again (n derivatives
per stage), so their size grows like n^3 terms only through the structure of f.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["sympy_derivatives"]


def sympy_derivatives(exprs: Sequence, state_syms: Sequence, param_syms: Sequence
                      ) -> dict[str, Callable]:
    """numpy callables ``f(x, p)``, ``dfdx(x, p)``, ``dfdp(x, p)``, ``d2f(x, p, u, v)``,
    ``d3f(x, p, u, v, w)``, ``d4f(..., y)`` and ``d5f(..., y, z)`` of the sympy vector field
    ``exprs``."""
    import sympy as sp

    X = list(state_syms)
    P = list(param_syms)
    F = [sp.sympify(e) for e in exprs]
    n, m = len(X), len(P)
    free = set().union(*(e.free_symbols for e in F)) if F else set()
    unknown = free - set(X) - set(P)
    if unknown:
        raise ValueError(f"exprs use symbols {sorted(map(str, unknown))} that are neither "
                         f"state_syms nor param_syms")
    U = sp.symbols(f"_u0:{n}", real=True)
    V = sp.symbols(f"_v0:{n}", real=True)
    W = sp.symbols(f"_w0:{n}", real=True)
    jac = [[sp.diff(fi, xj) for xj in X] for fi in F]
    jp = [[sp.diff(fi, pk) for pk in P] for fi in F]
    d1u = [sum((jac[i][j] * U[j] for j in range(n)), sp.Integer(0)) for i in range(n)]
    d2 = [sum((sp.diff(d1u[i], X[k]) * V[k] for k in range(n)), sp.Integer(0))
          for i in range(n)]
    d3 = [sum((sp.diff(d2[i], X[l_]) * W[l_] for l_ in range(n)), sp.Integer(0))
          for i in range(n)]
    Y = sp.symbols(f"_y0:{n}", real=True)
    Z = sp.symbols(f"_z0:{n}", real=True)
    # fourth and fifth: generated on first use (only l2 at Bautin points needs them)
    higher: dict[int, Callable] = {}

    def _higher(order: int) -> Callable:
        if order not in higher:
            d4 = [sum((sp.diff(d3[i], X[k]) * Y[k] for k in range(n)), sp.Integer(0))
                  for i in range(n)]
            if order == 4:
                higher[4] = lam((X, P, U, V, W, Y), d4)
            else:
                d5 = [sum((sp.diff(d4[i], X[k]) * Z[k] for k in range(n)), sp.Integer(0))
                      for i in range(n)]
                higher[5] = lam((X, P, U, V, W, Y, Z), d5)
        return higher[order]

    def lam(args, out):
        return sp.lambdify(args, out, modules="numpy", cse=True)

    f_ = lam((X, P), F)
    J_ = lam((X, P), jac)
    Jp_ = lam((X, P), jp if m else [[0]])
    d2_ = lam((X, P, U, V), d2)
    d3_ = lam((X, P, U, V, W), d3)

    def _vec(vals) -> np.ndarray:
        return np.array([float(v) for v in vals])

    def f(x, p):
        return _vec(f_(x, p))

    def dfdx(x, p):
        return np.array(J_(x, p), dtype=float).reshape(n, n)

    def dfdp(x, p):
        return np.array(Jp_(x, p), dtype=float).reshape(n, max(m, 1))[:, :m]

    def d2f(x, p, u, v):
        return _vec(d2_(x, p, u, v))

    def d3f(x, p, u, v, w):
        return _vec(d3_(x, p, u, v, w))

    def d4f(x, p, u, v, w, y):
        return _vec(_higher(4)(x, p, u, v, w, y))

    def d5f(x, p, u, v, w, y, z):
        return _vec(_higher(5)(x, p, u, v, w, y, z))

    return {"f": f, "dfdx": dfdx, "dfdp": dfdp, "d2f": d2f, "d3f": d3f, "d4f": d4f,
            "d5f": d5f}
