"""Event detection and location along a continued curve.

* Eigenvalue-based test: :func:`eigenvalues` (dense LAPACK, or ARPACK shift-invert at 0 and at
  ``i*omega`` hints for large sparse Jacobians) and :func:`stability_counts` (numbers of
  unstable eigenvalues: total, real, complex).
* :func:`isolate`: split a step by bisection in arclength until every change of the unstable
  counts is a single crossing (one real eigenvalue, or one complex pair).
* :func:`locate_zero`: Illinois (modified regula falsi) on a scalar test function evaluated on
  corrected curve points: the fallback locator when Newton on the minimally augmented
  systems (LP, H, BP in :mod:`equilibria`; BT, CP, GH in :mod:`codim2`) fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from bifsnn.continuation.linalg import blas_single_thread

__all__ = [
    "CurvePoint",
    "crossing_kind",
    "eigenvalues",
    "eigenvalues_checked",
    "isolate",
    "pair_crossings",
    "locate_zero",
    "stability_counts",
]

_IM_TOL = 1e-8


def eigenvalues(J, method: str = "auto", k: int | None = None, dense_max: int = 400,
                shifts: Sequence[float] = ()) -> np.ndarray:
    """Eigenvalues of ``J`` sorted by decreasing real part.

    ``method="dense"`` returns all n.  ``"sparse"`` (for large sparse J) returns the union of

    * the eigenvalues of largest modulus of the Cayley transform
      ``C = (J - s I)^{-1} (J + s I)`` (ARPACK with one sparse LU), whose eigenvalues
      ``mu = (lam + s) / (lam - s)`` have ``|mu| > 1`` exactly when ``Re lam > 0``: the
      number of eigenvalues computed is doubled until one with ``|mu| < 1`` is among them,
      so every unstable eigenvalue is found (the count of unstable eigenvalues is exact);
    * the ``k`` eigenvalues nearest 0 (shift-invert), for real eigenvalues near a fold.

    ``s`` is 2.5 times the largest frequency in ``shifts`` (at least 1): the scale of the
    eigenvalues near the imaginary axis (ARPACK converges fastest with ``s`` a few times it).
    ARPACK starts from a fixed vector, so identical inputs give identical outputs.  See
    :func:`eigenvalues_checked` for whether the unstable count is exact.
    """
    return eigenvalues_checked(J, method, k, dense_max, shifts)[0]


def eigenvalues_checked(J, method: str = "auto", k: int | None = None, dense_max: int = 400,
                        shifts: Sequence[float] = ()) -> tuple[np.ndarray, bool]:
    """``(eigenvalues, count_exact)``: as :func:`eigenvalues`, and whether the number of
    eigenvalues with positive real part among them is the matrix's (always for dense; for
    sparse when ARPACK converged, returned a stable Cayley eigenvalue and a search with twice
    the Krylov size found the same number of unstable ones, each confirmed by inverse
    iteration)."""
    n = J.shape[0]
    if method == "auto":
        method = "dense" if n <= dense_max else "sparse"
    exact = True
    if method == "dense" or n < 16:
        A = J.toarray() if sp.issparse(J) else np.asarray(J)
        with blas_single_thread():
            ev = np.linalg.eigvals(A)
    else:
        ev, exact = _sparse_eigenvalues(sp.csc_matrix(J), min(k or 12, n - 2), shifts)
    order = np.lexsort((-np.abs(ev.imag), -ev.real))
    return ev[order], exact


def _start_vector(n: int) -> np.ndarray:
    """Fixed ARPACK start vector (deterministic runs; pseudo-random so that it is not
    orthogonal to structured eigenvectors)."""
    v = np.random.default_rng(20261130).standard_normal(n)
    return v / np.linalg.norm(v)


def _sparse_eigenvalues(A, k: int, shifts: Sequence[float]) -> tuple[np.ndarray, bool]:
    n = A.shape[0]
    s = max([1.0, *[2.5 * float(w) for w in shifts]])
    eye = sp.identity(n, format="csc")
    found: list[np.ndarray] = []
    v0 = _start_vector(n)
    exact = False
    try:
        lu = spla.splu(sp.csc_matrix(A - s * eye))
        op = spla.LinearOperator((n, n), matvec=lambda v: lu.solve(A @ v + s * v),
                                 dtype=float)
        kk = min(max(k, 8), n - 2)
        n_unstable = -1  # unstable count of the previous search that reached a stable value
        while True:
            converged = True
            try:
                mu = spla.eigs(op, k=kk, which="LM", return_eigenvectors=False, tol=1e-8,
                               maxiter=50 * n, v0=v0)
            except spla.ArpackNoConvergence as exc:
                mu = exc.eigenvalues
                converged = False
            mu = mu[np.abs(mu - 1) > 1e-12]
            if mu.size and np.min(np.abs(mu)) < 1:
                # ARPACK can converge to a stable Cayley value before it has every unstable
                # one (seen with scipy 1.17 on a non-normal chain): the count is taken as
                # exact only when a search twice as large finds the same number
                count = int(np.sum(np.abs(mu) > 1))
                if count == n_unstable or kk >= n - 2 or not converged:
                    exact = converged and (count == n_unstable or kk >= n - 2)
                    break
                n_unstable = count
            if kk >= n - 2:
                break
            kk = min(2 * kk, n - 2)
        found.append(s * (mu + 1) / (mu - 1))
    except (RuntimeError, ValueError):
        pass
    try:
        found.append(spla.eigs(A, k=min(k, n - 2), sigma=0.0, which="LM",
                               return_eigenvectors=False, tol=1e-10, maxiter=20 * n, v0=v0))
    except (spla.ArpackNoConvergence, RuntimeError, ValueError) as exc:
        found.append(np.asarray(getattr(exc, "eigenvalues", np.array([]))))
    ev = np.concatenate(found) if found else np.array([], dtype=complex)
    # close conjugate pairs and drop duplicates from the two searches
    ev = np.concatenate([ev, np.conj(ev[np.abs(ev.imag) > _IM_TOL * (1 + np.abs(ev))])])
    ev = _unique(ev)
    if exact:
        exact = _verified_unstable(A, ev, v0)
    return ev, exact


def _verified_unstable(A, ev: np.ndarray, v0: np.ndarray, n_iter: int = 3,
                       max_checks: int = 64) -> bool:
    """Whether every unstable Ritz value is an eigenvalue: inverse iteration with the Ritz
    value as shift (sparse LU) must return an eigenvalue on the same side of the imaginary
    axis, next to it.  ARPACK's Ritz values of a strongly non-normal matrix can be
    pseudo-eigenvalues (small residual, far from any eigenvalue); then the count is not
    exact."""
    n = A.shape[0]
    unstable = ev[(ev.real > 0) & (ev.imag >= 0)]
    if unstable.size > max_checks:
        return False
    eye = sp.identity(n, format="csc", dtype=complex)
    Ac = sp.csc_matrix(A, dtype=complex)
    for theta in unstable:
        shift = theta + 1e-9 * (1 + abs(theta))
        try:
            lu = spla.splu(sp.csc_matrix(Ac - shift * eye))
        except RuntimeError:
            continue  # the shift is (numerically) an eigenvalue itself
        v = v0.astype(complex)
        lam = shift
        for _ in range(n_iter):
            y = lu.solve(v)
            lam = shift + 1.0 / np.vdot(v, y)
            v = y / np.linalg.norm(y)
        lam = complex(np.vdot(v, Ac @ v))
        if (lam.real > 0) != (theta.real > 0) or abs(lam - theta) > 1e-6 * (1 + abs(theta)):
            return False
    return True


def _unique(ev: np.ndarray, rtol: float = 1e-7) -> np.ndarray:
    out: list[complex] = []
    for lam in ev:
        if not any(abs(lam - mu) <= rtol * (1 + abs(mu)) for mu in out):
            out.append(lam)
    return np.array(out, dtype=complex)


def stability_counts(ev: np.ndarray, tol: float = 0.0) -> tuple[int, int, int]:
    """(number unstable, unstable real, unstable non-real) eigenvalues: Re > tol."""
    ev = np.asarray(ev)
    unstable = ev.real > tol
    cplx = np.abs(ev.imag) > _IM_TOL * (1 + np.abs(ev))
    return int(unstable.sum()), int((unstable & ~cplx).sum()), int((unstable & cplx).sum())


@dataclass
class CurvePoint:
    """A corrected point of a curve with what the event logic needs."""

    s: float
    u: np.ndarray
    tangent: np.ndarray
    jacobian: object
    eig: np.ndarray
    counts: tuple[int, int, int]
    extra: dict = field(default_factory=dict)

    def critical(self) -> complex:
        """Eigenvalue closest to the imaginary axis (largest imaginary part among ties)."""
        ev = self.eig
        if ev.size == 0:
            return complex("nan")
        return ev[int(np.argmin(np.abs(ev.real) - 1e-12 * np.abs(ev.imag)))]


def crossing_kind(lo: CurvePoint, hi: CurvePoint) -> str | None:
    """Kind of eigenvalue crossing between two points: None (no change), "real" (one real
    eigenvalue), "complex" (one pair), or "multiple" (not isolated)."""
    dn = hi.counts[0] - lo.counts[0]
    dr = hi.counts[1] - lo.counts[1]
    dc = hi.counts[2] - lo.counts[2]
    if dn == 0:
        return None
    if abs(dr) == 1 and dc == 0:
        return "real"
    if dr == 0 and abs(dc) == 2:
        return "complex"
    return "multiple"


def pair_crossings(lo: CurvePoint, hi: CurvePoint, tol: float = _IM_TOL
                   ) -> list[tuple[float, float, int]]:
    """Complex pairs whose real part changes sign between ``lo`` and ``hi``, found by
    matching the eigenvalues of the upper half plane at both ends (minimal total distance,
    Hungarian algorithm).  Returns ``(theta, omega, direction)`` per crossing: the secant
    fraction of the step where Re = 0, the interpolated frequency there, +1 for a pair
    becoming unstable, -1 for one becoming stable.  Several crossings in one step, and a
    pair entering while another leaves (no change of the count), are all found."""
    from scipy.optimize import linear_sum_assignment

    def upper(ev):
        ev = np.asarray(ev)
        ev = ev[np.isfinite(ev)]
        return ev[ev.imag > tol * (1 + np.abs(ev))]

    ea, eb = upper(lo.eig), upper(hi.eig)
    if ea.size == 0 or eb.size == 0:
        return []
    ia, ib = linear_sum_assignment(np.abs(ea[:, None] - eb[None, :]))
    out = []
    for i, j in zip(ia, ib, strict=True):
        ra, rb = float(ea[i].real), float(eb[j].real)
        if (ra > 0) == (rb > 0):
            continue
        th = ra / (ra - rb) if ra != rb else 0.5
        th = float(np.clip(th, 0.0, 1.0))
        om = (1 - th) * float(ea[i].imag) + th * float(eb[j].imag)
        out.append((th, om, 1 if rb > 0 else -1))
    return out


def isolate(point_at: Callable[[float], CurvePoint | None], lo: CurvePoint, hi: CurvePoint,
            max_depth: int) -> list[tuple[CurvePoint, CurvePoint, str]]:
    """Split [lo, hi] by bisection in arclength until each sub-interval holds one crossing.

    ``point_at(s)`` returns the corrected point at arclength ``s`` (None on failure).  Returns
    ``(lo, hi, kind)`` triples in order; ``kind`` is "real", "complex" or, when the depth
    limit was reached first, the best guess from the change of the total count ("real" if
    odd; "complex" if even and the critical eigenvalues are non-real; else "multiple").
    """
    kind = crossing_kind(lo, hi)
    if kind is None:
        return []
    if kind != "multiple":
        return [(lo, hi, kind)]
    if max_depth <= 0:
        dn = hi.counts[0] - lo.counts[0]
        if dn % 2:
            return [(lo, hi, "real")]
        crit = [abs(lo.critical().imag), abs(hi.critical().imag)]
        return [(lo, hi, "complex" if min(crit) > 1e-6 else "multiple")]
    mid = point_at(0.5 * (lo.s + hi.s))
    if mid is None:
        return isolate(point_at, lo, hi, 0)
    return isolate(point_at, lo, mid, max_depth - 1) + isolate(point_at, mid, hi, max_depth - 1)


def locate_zero(value_at: Callable[[float], tuple[float, object] | None], s_lo: float,
                s_hi: float, f_lo: float, f_hi: float, tol: float = 1e-10,
                max_iter: int = 60, *, ftol: float = 0.0, xtol: float | None = None,
                ends: tuple[object, object] | None = None,
                best: bool = False) -> tuple[float, object, bool]:
    """Zero of a scalar test function along a curve by the Illinois method (modified regula
    falsi): the one zero locator of the engine (equilibria, codim-2 curves, cycles).

    ``value_at(s)`` returns ``(test value, payload)`` for the corrected point at arclength
    ``s`` (or None).  Requires a sign change between ``f_lo`` and ``f_hi``.  Returns
    ``(s, payload, converged)``; converged when the bracket is shorter than
    ``tol * (1 + |s|)`` (or the absolute ``xtol``) or the test value is at most ``ftol`` in
    modulus.  ``ends``: the payloads at ``s_lo`` and ``s_hi`` (known to the caller);
    ``best``: return the evaluated point (ends included) with the smallest |test value|
    rather than the last one.
    """
    if not (np.isfinite(f_lo) and np.isfinite(f_hi)) or f_lo * f_hi > 0:
        return 0.5 * (s_lo + s_hi), None, False
    a, b, fa, fb = s_lo, s_hi, f_lo, f_hi
    payload = None
    if ends is not None:
        top = (s_lo, ends[0], f_lo) if abs(f_lo) < abs(f_hi) else (s_hi, ends[1], f_hi)
    else:
        top = (0.5 * (s_lo + s_hi), None, np.inf)

    def small(s_: float) -> bool:
        return abs(b - a) <= (tol * (1 + abs(s_)) if xtol is None else xtol)

    def out(s_: float, payload_: object, ok: bool) -> tuple[float, object, bool]:
        if best and top[1] is not None:
            return top[0], top[1], ok
        return s_, payload_, ok

    side = 0
    s = 0.5 * (a + b)
    for _ in range(max_iter):
        s = b - fb * (b - a) / (fb - fa) if fb != fa else 0.5 * (a + b)
        if not (min(a, b) < s < max(a, b)):
            s = 0.5 * (a + b)
        got = value_at(s)
        if got is None:
            if best:
                return out(s, payload, False)
            s = 0.5 * (a + b)
            got = value_at(s)
            if got is None:
                return s, payload, False
        fs, payload = got
        if abs(fs) < abs(top[2]):
            top = (s, payload, fs)
        if fs == 0 or abs(fs) < ftol or small(s):
            return out(s, payload, True)
        if fs * fb < 0:
            a, fa = b, fb
            b, fb = s, fs
            side = 0
        else:
            b, fb = s, fs
            fa = fa / 2 if side == 1 else fa
            side = 1
        if xtol is None and small(s):
            return out(s, payload, True)
    return out(s, payload, False)
