"""Piecewise-polynomial meshes for periodic orbits: collocation tables, evaluation, adaptation.

A periodic orbit is stored on the normalised time interval [0, 1] as in AUTO-07p: ``ntst``
mesh intervals ``[tm[j], tm[j+1]]``, each carrying a polynomial of degree ``ncol`` given by its
values at ``ncol + 1`` equally spaced nodes (the first and last node are shared with the
neighbouring intervals). The node values form an array ``U`` of shape ``(ntst*ncol + 1, n)``;
the last row repeats the first one for a periodic solution. Collocation happens at the
``ncol`` Gauss-Legendre points of every interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np

__all__ = [
    "CollocationTables",
    "collocation_tables",
    "uniform_mesh",
    "node_times",
    "evaluate",
    "node_quadrature_weights",
    "adapt_mesh",
    "interpolate_to_mesh",
    "check_mesh_args",
]

MIN_NCOL, MAX_NCOL = 2, 7


def check_mesh_args(ntst: int, ncol: int) -> None:
    """Raise ValueError naming the argument if the mesh size or degree is out of range."""
    if not (isinstance(ntst, int | np.integer) and ntst >= 2):
        raise ValueError(f"ntst = {ntst!r} is out of range: must be an integer >= 2 (number of "
                         "mesh intervals)")
    if not (isinstance(ncol, int | np.integer) and MIN_NCOL <= ncol <= MAX_NCOL):
        raise ValueError(f"ncol = {ncol!r} is out of range: must be an integer in "
                         f"[{MIN_NCOL}, {MAX_NCOL}] (collocation degree)")


@dataclass(frozen=True)
class CollocationTables:
    """Reference-interval tables for degree ``ncol``.

    nodes: (m+1,) equally spaced nodes on [0, 1]; gauss: (m,) Gauss-Legendre points;
    L[k, l] = l-th Lagrange basis at Gauss point k; D[k, l] its derivative;
    coeffs[i, l]: monomial coefficient of s**i in basis l; dm: (m+1,) m-th derivative of each
    basis polynomial (constant); wq: (m+1,) integral of each basis polynomial over [0, 1].
    """

    ncol: int
    nodes: np.ndarray
    gauss: np.ndarray
    L: np.ndarray
    D: np.ndarray
    coeffs: np.ndarray
    dm: np.ndarray
    wq: np.ndarray

    def basis(self, s: np.ndarray) -> np.ndarray:
        """Lagrange basis values at local coordinates s (any shape) -> (..., m+1)."""
        s = np.asarray(s, dtype=float)
        powers = s[..., None] ** np.arange(self.ncol + 1)
        return powers @ self.coeffs

    def basis_derivative(self, s: np.ndarray) -> np.ndarray:
        """Derivative of the Lagrange basis at local coordinates s -> (..., m+1)."""
        s = np.asarray(s, dtype=float)
        i = np.arange(1, self.ncol + 1)
        powers = i * s[..., None] ** (i - 1)
        return powers @ self.coeffs[1:]


@lru_cache(maxsize=16)
def collocation_tables(ncol: int) -> CollocationTables:
    """Tables for collocation of degree ``ncol`` at Gauss points (cached)."""
    check_mesh_args(2, ncol)
    m = int(ncol)
    nodes = np.linspace(0.0, 1.0, m + 1)
    x, _ = np.polynomial.legendre.leggauss(m)
    gauss = 0.5 * (x + 1.0)
    V = nodes[:, None] ** np.arange(m + 1)  # V[l, i] = nodes[l]**i
    coeffs = np.linalg.inv(V)  # column l: monomial coefficients of basis l
    powers = gauss[:, None] ** np.arange(m + 1)
    L = powers @ coeffs
    i = np.arange(1, m + 1)
    D = (i * gauss[:, None] ** (i - 1)) @ coeffs[1:]
    dm = factorial(m) * coeffs[m]
    xq, wq_g = np.polynomial.legendre.leggauss(m + 1)
    sq = 0.5 * (xq + 1.0)
    wq = 0.5 * wq_g @ ((sq[:, None] ** np.arange(m + 1)) @ coeffs)
    for arr in (nodes, gauss, L, D, coeffs, dm, wq):
        arr.setflags(write=False)
    return CollocationTables(m, nodes, gauss, L, D, coeffs, dm, wq)


def uniform_mesh(ntst: int) -> np.ndarray:
    """Uniform mesh points on [0, 1] for ``ntst`` intervals."""
    return np.linspace(0.0, 1.0, int(ntst) + 1)


def node_times(tm: np.ndarray, ncol: int) -> np.ndarray:
    """Normalised times of all nodes (ntst*ncol + 1,) for mesh ``tm``."""
    tab = collocation_tables(ncol)
    h = np.diff(tm)
    t = (tm[:-1, None] + h[:, None] * tab.nodes[None, :-1]).ravel()
    return np.append(t, tm[-1])


def node_quadrature_weights(tm: np.ndarray, ncol: int) -> np.ndarray:
    """Weights w (ntst*ncol + 1,) with sum_i w_i g(t_i) ~ integral_0^1 g for the node values."""
    tab = collocation_tables(ncol)
    h = np.diff(tm)
    ntst = len(h)
    w = np.zeros(ntst * ncol + 1)
    idx = np.arange(ntst)[:, None] * ncol + np.arange(ncol + 1)[None, :]
    np.add.at(w, idx, h[:, None] * tab.wq[None, :])
    return w


def _interval_values(U: np.ndarray, ncol: int) -> np.ndarray:
    """Node values grouped by interval: (ntst, ncol+1, n)."""
    ntst = (U.shape[0] - 1) // ncol
    idx = np.arange(ntst)[:, None] * ncol + np.arange(ncol + 1)[None, :]
    return U[idx]


def evaluate(tm: np.ndarray, U: np.ndarray, ncol: int, t: np.ndarray) -> np.ndarray:
    """Evaluate the piecewise polynomial (tm, U) at normalised times t (taken modulo 1)."""
    tab = collocation_tables(ncol)
    t = np.asarray(t, dtype=float)
    tt = np.mod(t, 1.0)
    tt = np.where((tt == 0.0) & (t > 0) & np.isclose(t, np.round(t)), 1.0, tt)
    j = np.clip(np.searchsorted(tm, tt, side="right") - 1, 0, len(tm) - 2)
    s = (tt - tm[j]) / (tm[j + 1] - tm[j])
    B = tab.basis(s)  # (K, m+1)
    Uj = _interval_values(U, ncol)[j]  # (K, m+1, n)
    return np.einsum("kl,kln->kn", B, Uj)


def interpolate_to_mesh(
    tm_old: np.ndarray, U_old: np.ndarray, ncol_old: int, tm_new: np.ndarray, ncol_new: int
) -> np.ndarray:
    """Node values of the old piecewise polynomial on a new mesh (and possibly new degree)."""
    t_new = node_times(tm_new, ncol_new)
    U_new = evaluate(tm_old, U_old, ncol_old, t_new[:-1])
    return np.vstack([U_new, U_new[:1]])


def _mesh_measure(tm: np.ndarray, U: np.ndarray, ncol: int) -> np.ndarray:
    """AUTO-style per-interval error measure |u^(m+1)|^(1/(m+1)) (periodic differences)."""
    tab = collocation_tables(ncol)
    h = np.diff(tm)
    Uj = _interval_values(U, ncol)
    dm = np.einsum("l,jln->jn", tab.dm, Uj) / h[:, None] ** ncol  # m-th derivative, per interval
    # (m+1)-th derivative at mesh points j (between interval j-1 and j), periodic wrap
    dprev = np.roll(dm, 1, axis=0)
    hprev = np.roll(h, 1)
    e = 2.0 * (dm - dprev) / (h + hprev)[:, None]
    a = np.sum(np.abs(e) ** (1.0 / (ncol + 1)), axis=1)  # at mesh point j
    q = 0.5 * (a + np.roll(a, -1))  # per interval j
    return q


def adapt_mesh(
    tm: np.ndarray,
    U: np.ndarray,
    ncol: int,
    ntst_new: int | None = None,
    *,
    floor: float = 0.02,
    max_ratio: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Equidistribute the AUTO error measure; return the new mesh and interpolated node values.

    The measure is integral |u^(m+1)|^(1/(m+1)) dt with u^(m+1) approximated by differencing the
    (constant) m-th derivatives of neighbouring collocation polynomials, as in AUTO-07p. A
    floor of ``floor`` times the mean density keeps some points in flat parts of the orbit.
    """
    ntst_old = len(tm) - 1
    ntst_new = ntst_old if ntst_new is None else int(ntst_new)
    check_mesh_args(ntst_new, ncol)
    h = np.diff(tm)
    q = _mesh_measure(tm, U, ncol)
    if not np.all(np.isfinite(q)) or np.sum(q * h) <= 0:
        tm_new = uniform_mesh(ntst_new)
        return tm_new, interpolate_to_mesh(tm, U, ncol, tm_new, ncol)
    mean_density = np.sum(q * h)
    q = q + floor * mean_density
    # smooth the density a little (3-point, periodic) to avoid mesh jitter between steps
    q = 0.25 * np.roll(q, 1) + 0.5 * q + 0.25 * np.roll(q, -1)
    cum = np.concatenate([[0.0], np.cumsum(q * h)])
    targets = np.linspace(0.0, cum[-1], ntst_new + 1)
    tm_new = np.interp(targets, cum, tm)
    tm_new[0], tm_new[-1] = 0.0, 1.0
    if max_ratio is not None:
        hn = np.diff(tm_new)
        hn = np.maximum(hn, hn.max() / max_ratio)
        tm_new = np.concatenate([[0.0], np.cumsum(hn / hn.sum())])
        tm_new[-1] = 1.0
    return tm_new, interpolate_to_mesh(tm, U, ncol, tm_new, ncol)
