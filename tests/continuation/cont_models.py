"""Test models with known bifurcations (shared by the continuation tests and benchmark)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation import ODEProblem


def brusselator_1d(N: int = 100, a: float = 2.0, b: float = 4.0, d_u: float = 0.002,
                   d_v: float = 0.002, sparse: bool = True) -> ODEProblem:
    """Brusselator on [0, 1] with Dirichlet conditions u = a, v = b/a, N interior points,
    unknowns interleaved (u1, v1, u2, v2, ...); parameters (a, b, d_u, d_v).

    The homogeneous state u = a, v = b/a solves it for every b; mode k (Laplacian
    eigenvalue -q_k, q_k = 4 (N+1)^2 sin^2(k pi / (2 (N+1)))) has a Hopf point at
    b_k = 1 + a^2 + (d_u + d_v) q_k while the determinant stays positive.
    """
    h2 = 1.0 / (N + 1) ** 2

    def f(x, p):
        a_, b_, du, dv = p
        u, v = x[0::2], x[1::2]
        ue = np.r_[a_, u, a_]
        ve = np.r_[b_ / a_, v, b_ / a_]
        lu = (ue[:-2] - 2 * u + ue[2:]) / h2
        lv = (ve[:-2] - 2 * v + ve[2:]) / h2
        out = np.empty_like(x)
        out[0::2] = du * lu + a_ - (b_ + 1) * u + u * u * v
        out[1::2] = dv * lv + b_ * u - u * u * v
        return out

    def dfdx(x, p):
        a_, b_, du, dv = p
        u, v = x[0::2], x[1::2]
        n = 2 * N
        main = np.empty(n)
        main[0::2] = -2 * du / h2 - (b_ + 1) + 2 * u * v
        main[1::2] = -2 * dv / h2 - u * u
        up1 = np.zeros(n - 1)  # (i, i+1): d f_u / d v within a cell
        up1[0::2] = u * u
        lo1 = np.zeros(n - 1)  # (i+1, i): d f_v / d u within a cell
        lo1[0::2] = b_ - 2 * u * v
        off2 = np.empty(n - 2)
        off2[0::2] = du / h2
        off2[1::2] = dv / h2
        J = sp.diags([main, up1, lo1, off2, off2], [0, 1, -1, 2, -2], format="csc")
        return J if sparse else J.toarray()

    x0 = np.empty(2 * N)
    x0[0::2] = a
    x0[1::2] = b / a
    return ODEProblem(f, x0, [a, b, d_u, d_v], param="b", dfdx=dfdx,
                      param_names=("a", "b", "d_u", "d_v"), name=f"brusselator1d-{N}")


def brusselator_1d_hopf_values(N: int = 100, a: float = 2.0, d_u: float = 0.002,
                               d_v: float = 0.002) -> np.ndarray:
    """Exact Hopf values b_k of :func:`brusselator_1d` (modes with positive determinant)."""
    k = np.arange(1, N + 1)
    q = 4 * (N + 1) ** 2 * np.sin(k * np.pi / (2 * (N + 1))) ** 2
    b = 1 + a**2 + (d_u + d_v) * q
    det = a**2 * b - (a**2 + d_v * q) ** 2
    return b[det > 0]
