"""Small test systems with known periodic-orbit answers (used by tests and benchmarks).

Each factory returns a ``CycleSystem`` whose continuation parameter is a scalar p.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .system import CycleSystem

__all__ = [
    "hopf_normal_form",
    "bautin",
    "bautin_2p",
    "van_der_pol",
    "rossler",
    "rossler_3p",
    "brusselator_chain",
]


def hopf_normal_form() -> CycleSystem:
    """x' = p x - y - x r^2, y' = x + p y - y r^2: cycle r = sqrt(p), period 2 pi, l1 = -2
    (Kuznetsov normalisation with q = (1, -i)/sqrt 2), nontrivial multiplier exp(-4 pi p)."""

    def f(x, p):
        r2 = x[0] ** 2 + x[1] ** 2
        return np.array([p * x[0] - x[1] - x[0] * r2, x[0] + p * x[1] - x[1] * r2])

    def J(x, p):
        return np.array(
            [
                [p - 3 * x[0] ** 2 - x[1] ** 2, -1 - 2 * x[0] * x[1]],
                [1 - 2 * x[0] * x[1], p - x[0] ** 2 - 3 * x[1] ** 2],
            ]
        )

    return CycleSystem(f, 2, dfdx=J, dfdp=lambda x, p: np.array([x[0], x[1]]), vectorized=True)


def bautin(beta2: float = 1.0) -> CycleSystem:
    """Bautin normal form r' = r (b1 + b2 r^2 - r^4), theta' = 1 in Cartesian form, p = b1.

    Cycles r^2 = (b2 +- sqrt(b2^2 + 4 b1))/2, fold of cycles at b1 = -b2^2/4 (r^2 = b2/2),
    period 2 pi, nontrivial multiplier exp(2 pi (b1 + 3 b2 r^2 - 5 r^4)).
    """

    def f(x, p):
        r2 = x[0] ** 2 + x[1] ** 2
        g = p + beta2 * r2 - r2**2
        return np.array([g * x[0] - x[1], x[0] + g * x[1]])

    def J(x, p):
        r2 = x[0] ** 2 + x[1] ** 2
        g = p + beta2 * r2 - r2**2
        dg = beta2 - 2 * r2  # dg/d(r2)
        return np.array(
            [
                [g + 2 * x[0] ** 2 * dg, -1 + 2 * x[0] * x[1] * dg],
                [1 + 2 * x[0] * x[1] * dg, g + 2 * x[1] ** 2 * dg],
            ]
        )

    return CycleSystem(f, 2, dfdx=J, dfdp=lambda x, p: np.array([x[0], x[1]]), vectorized=True)


def van_der_pol() -> CycleSystem:
    """x' = y, y' = p (1 - x^2) y - x (relaxation oscillations for large p)."""

    def f(x, p):
        return np.array([x[1], p * (1 - x[0] ** 2) * x[1] - x[0]])

    def J(x, p):
        return np.array([[0.0, 1.0], [-2 * p * x[0] * x[1] - 1, p * (1 - x[0] ** 2)]])

    return CycleSystem(
        f, 2, dfdx=J, dfdp=lambda x, p: np.array([0.0, (1 - x[0] ** 2) * x[1]]), vectorized=True
    )


def rossler(a: float = 0.2, b: float = 0.2) -> CycleSystem:
    """Roessler x' = -y - z, y' = x + a y, z' = b + z (x - c) with p = c."""

    def f(x, c):
        return np.array([-x[1] - x[2], x[0] + a * x[1], b + x[2] * (x[0] - c)])

    def J(x, c):
        return np.array([[0.0, -1.0, -1.0], [1.0, a, 0.0], [x[2], 0.0, x[0] - c]])

    return CycleSystem(
        f, 3, dfdx=J, dfdp=lambda x, c: np.array([0.0, 0.0, -x[2]]), vectorized=True
    )


def brusselator_chain(K: int, A: float = 1.0, d: tuple[float, float] = (0.1, 0.1)) -> CycleSystem:
    """K diffusively coupled Brusselators (n = 2K, interleaved u_i, v_i, no-flux ends), p = B.

    u' = A - (B+1) u + u^2 v + d_u Lap u,  v' = B u - u^2 v + d_v Lap v. The homogeneous
    solution is the single Brusselator: Hopf at B = 1 + A^2 with omega = A, and its cycle is
    the 2-variable cycle repeated on every node. Sparse (tridiagonal-block) Jacobian,
    vectorised f.
    """
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    du, dv = d
    n = 2 * K
    Lap = sp.diags([np.ones(K - 1), -2 * np.ones(K), np.ones(K - 1)], [-1, 0, 1]).tolil()
    if K > 1:
        Lap[0, 0] = -1
        Lap[K - 1, K - 1] = -1
    else:
        Lap[0, 0] = 0
    Lap = Lap.tocsr()
    P = sp.lil_matrix((n, n))
    P[np.arange(0, n, 2), np.arange(K)] = 1  # u rows
    Pu = sp.csr_matrix((np.ones(K), (np.arange(0, n, 2), np.arange(K))), shape=(n, K))
    Pv = sp.csr_matrix((np.ones(K), (np.arange(1, n, 2), np.arange(K))), shape=(n, K))
    D = (du * Pu @ Lap @ Pu.T + dv * Pv @ Lap @ Pv.T).tocsr()

    def f(x, B):
        u, v = x[0::2], x[1::2]
        out = D @ x
        out = np.asarray(out, dtype=float)
        out[0::2] += A - (B + 1) * u + u * u * v
        out[1::2] += B * u - u * u * v
        return out

    ii = np.arange(K)
    pattern = (D != 0).astype(float) + sp.identity(n)
    pattern = pattern + sp.csr_matrix((np.ones(K), (2 * ii, 2 * ii + 1)), shape=(n, n))
    pattern = pattern + sp.csr_matrix((np.ones(K), (2 * ii + 1, 2 * ii)), shape=(n, n))

    def J(x, B):
        u, v = x[0::2], x[1::2]
        loc = sp.csr_matrix(
            (
                np.concatenate([-(B + 1) + 2 * u * v, u * u, B - 2 * u * v, -u * u]),
                (
                    np.concatenate([2 * ii, 2 * ii, 2 * ii + 1, 2 * ii + 1]),
                    np.concatenate([2 * ii, 2 * ii + 1, 2 * ii, 2 * ii + 1]),
                ),
            ),
            shape=(n, n),
        )
        return D + loc

    def fp(x, B):
        out = np.zeros_like(x)
        out[0::2] = -x[0::2]
        out[1::2] = x[0::2]
        return out

    return CycleSystem(f, n, dfdx=J, dfdp=fp, vectorized=True, jac_sparsity=pattern)


def bautin_2p(beta1: float = 0.0, beta2: float = 1.0) -> CycleSystem:
    """Bautin normal form with parameter vector (beta1, beta2), continued in beta1 (ipar 0).

    The fold-of-cycles curve is beta1 = -beta2^2 / 4 (beta2 > 0).
    """

    def f(x, P):
        r2 = x[0] ** 2 + x[1] ** 2
        g = P[0] + P[1] * r2 - r2**2
        return np.array([g * x[0] - x[1], x[0] + g * x[1]])

    def J(x, P):
        r2 = x[0] ** 2 + x[1] ** 2
        g = P[0] + P[1] * r2 - r2**2
        dg = P[1] - 2 * r2
        return np.array(
            [
                [g + 2 * x[0] ** 2 * dg, -1 + 2 * x[0] * x[1] * dg],
                [1 + 2 * x[0] * x[1] * dg, g + 2 * x[1] ** 2 * dg],
            ]
        )

    def fp(x, P):
        r2 = x[0] ** 2 + x[1] ** 2
        return np.array([[x[0], x[0] * r2], [x[1], x[1] * r2]])

    return CycleSystem(f, 2, dfdx=J, dfdp=fp, params=[beta1, beta2], ipar=0, vectorized=True)


def rossler_3p(a: float = 0.2, b: float = 0.2, c: float = 2.5) -> CycleSystem:
    """Roessler with parameter vector (a, b, c), continued in c (ipar 2)."""

    def f(x, P):
        return np.array([-x[1] - x[2], x[0] + P[0] * x[1], P[1] + x[2] * (x[0] - P[2])])

    def J(x, P):
        return np.array([[0.0, -1.0, -1.0], [1.0, P[0], 0.0], [x[2], 0.0, x[0] - P[2]]])

    def fp(x, P):
        z = 0.0 * x[0]
        return np.array([[z, z, z], [x[1], z, z], [z, 1.0 + z, -x[2]]])

    return CycleSystem(f, 3, dfdx=J, dfdp=fp, params=[a, b, c], ipar=2, vectorized=True)
