"""Codim-2 points on curves of cycle bifurcations (LPC, PD, NS curves): test functions,
location along the curve and the checks a label must pass.

Test functions (MatCont's set, Kuznetsov, Govaerts, Doedel & Dhooge, SIAM J. Numer. Anal. 43,
2005; MatCont manual sec. 6.3), evaluated at every point of a curve:

* on LPC curves: ``CPC`` (cusp of cycles: the projection of the curve's tangent onto the
  parameter plane reverses its direction; it vanishes at the cusp), ``LPPD`` (fold-flip: the
  bordered anti-periodic test g_PD changes sign, a multiplier crosses -1), ``LPNS`` (fold-NS:
  a complex pair of multipliers crosses the unit circle);
* on PD curves: ``LPPD`` (the bordered fold-of-cycles test g_LPC changes sign, a nontrivial
  multiplier crosses 1), ``PDNS`` (flip-NS: a complex pair crosses the unit circle), ``R2``
  (1:2 resonance: <psi, phi> / |psi| |phi| = 0 for the right and left eigenvectors of the
  monodromy for -1, read off the null vectors of the curve's bordered anti-periodic operator:
  phi = w(0), psi = the boundary rows of the adjoint null vector; zero where -1 becomes a
  Jordan block, as <w, v> at a Bogdanov-Takens point);
* on NS curves (multiplier pair exp(+-i theta), theta an unknown of the curve): ``R1``
  (theta = 0, 1:1 resonance), ``R2`` (theta = pi, 1:2), ``R3`` (cos theta = -1/2, 1:3),
  ``R4`` (cos theta = 0, 1:4), ``LPNS`` (g_LPC changes sign), ``PDNS`` (g_PD changes sign).
* normal-form tests: ``GPD`` on PD curves (generalised period doubling: the PD coefficient c
  changes sign) and ``CH`` on NS curves (Chenciner: Re d changes sign), from
  :mod:`.cycle_normal_forms`; a sign change through a pole (near a resonance) is rejected;
* ``R1`` on LPC curves (1:1 resonance, the multiplier 1 becomes triple): <psi, phi> / |psi|
  |phi| for phi = w(0) and psi = the periodicity rows of the left null vector of the cycle
  Jacobian's (U, T) block (d/dmu of its determinant with the boundary condition
  mu w(0) - w(1), zero where the root mu = 1 becomes double: the analogue of R2 on PD curves).

Tests on a matrix (g_LPC, g_PD) are detected by the sign of its determinant (from the sparse
LU, no borders: on product-like systems borders chosen far from the singularity can miss it)
and located by the bordered g with borders from inverse iteration at the bracket, the same
borders at both ends, so the located zero is the zero of one smooth function.  A sign change is
located by the Illinois method on corrected curve points (the curve's own corrector), then
checked on the Floquet multipliers computed from the monodromy matrix at the located point
(an independent computation): a label is ``located`` only when the locator converged and
the multipliers show the degeneracy (:func:`confirm_codim2`); otherwise it is kept with
``located`` False and the reason in ``data['unconfirmed']``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.events import locate_zero
from bifsnn.continuation.linalg import Factorization

from .collocation import FloquetResult, sparse_lu
from .stepper import LPC_DOUBLE_TOL, TEST_TOL, TRIVIAL_TOL, _nontrivial

__all__ = ["CURVE_TESTS", "NORMAL_FORM_FD_MAX_N", "NORMAL_FORM_TESTS", "RESONANCE_TOL",
           "BorderedTest", "confirm_codim2", "det_sign", "locate_on_curve",
           "multiplier_ns_test", "bisect_on_curve"]

#: Codim-2 test functions per curve kind, with the smallest state dimension where each
#: point can occur (trivial multiplier + the multipliers the degeneracy needs).
CURVE_TESTS: dict[str, dict[str, int]] = {
    "LPC": {"CPC": 2, "LPPD": 3, "LPNS": 4, "R1": 3},
    "PD": {"LPPD": 3, "PDNS": 4, "R2": 3, "GPD": 3},
    "NS": {"R1": 3, "R2": 3, "R3": 3, "R4": 3, "LPNS": 4, "PDNS": 4, "CH": 3},
}

#: Tests that need the periodic normal form (B and C along the cycle): computed only when the
#: problem has exact second and third derivatives or at most this many state variables.
NORMAL_FORM_TESTS = {"GPD": "PD", "CH": "NS"}
NORMAL_FORM_FD_MAX_N = 20

#: Multipliers at a double (R1: triple) root are computed to about the square (cube) root of
#: the collocation accuracy: the tolerance of the checks at R1 and R2.
RESONANCE_TOL = 2e-2


class BorderedTest:
    """g from ``[[M, b], [c^T, 0]] [w; g] = [0; 1]`` (zero where M is singular), with the
    borders held fixed until :meth:`refresh` (so that values at the two ends of a step are
    values of one smooth function)."""

    def __init__(self, M: sp.csc_matrix) -> None:
        rng = np.random.default_rng(11)
        b, c = rng.standard_normal(M.shape[0]), rng.standard_normal(M.shape[1])
        try:
            lu = sparse_lu(M)
            for _ in range(3):
                c = lu.solve(c)
                c /= np.linalg.norm(c)
                b = lu.solve(b, trans="T")
                b /= np.linalg.norm(b)
        except RuntimeError:  # exactly singular: random borders are fine
            pass
        self.b = b / np.linalg.norm(b)
        self.c = c / np.linalg.norm(c)
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def value(self, M: sp.csc_matrix) -> float:
        """g at the matrix M (NaN if the bordered matrix is singular)."""
        B = sp.bmat([[M, sp.csc_matrix(self.b[:, None])],
                     [sp.csc_matrix(self.c[None, :]), None]], format="csc")
        try:
            lu = sparse_lu(B)
        except RuntimeError:
            return float("nan")
        rhs = np.zeros(B.shape[0])
        rhs[-1] = 1.0
        wg = lu.solve(rhs)
        vg = lu.solve(rhs, trans="T")
        self.last = (vg[:-1], wg[:-1])
        return float(wg[-1])

    def refresh(self) -> None:
        """Borders from the null vectors of the last evaluation."""
        if self.last is not None:
            v, w = self.last
            if np.all(np.isfinite(v)) and np.all(np.isfinite(w)):
                self.b = v / np.linalg.norm(v)
                self.c = w / np.linalg.norm(w)


def det_sign(M: sp.csc_matrix) -> float:
    """Sign of det M (+1.0 / -1.0; NaN when M is exactly singular): the detection test of
    the bordered tests (it changes sign exactly where a real multiplier crosses 1 or -1,
    whatever borders a locator later uses)."""
    try:
        return float(Factorization(M).det_sign())
    except np.linalg.LinAlgError:
        return float("nan")


def multiplier_ns_test(mu: np.ndarray | None, exclude: float | None = None) -> float:
    """|mu| - 1 for the complex multiplier pair nearest the unit circle (NaN without one);
    ``exclude``: an angle theta whose pair exp(+-i theta) is not counted (an NS curve's)."""
    if mu is None:
        return float("nan")
    m = _nontrivial(np.asarray(mu))
    m = m[np.abs(m.imag) > 1e-7 * np.maximum(1.0, np.abs(m))]
    if exclude is not None:
        for z in (np.exp(1j * exclude), np.exp(-1j * exclude)):
            if m.size:
                m = np.delete(m, int(np.argmin(np.abs(m - z))))
    if m.size == 0:
        return float("nan")
    return float(np.abs(m[np.argmin(np.abs(np.abs(m) - 1.0))]) - 1.0)


def _near(m: np.ndarray, z: complex, k: int, tol: float) -> tuple[bool, float]:
    """Whether k multipliers lie within tol of z (and the k-th smallest distance)."""
    d = np.sort(np.abs(m - z))
    dk = float(d[k - 1]) if d.size >= k else math.inf
    return dk <= tol, dk


def confirm_codim2(kind: str, n: int, fl: FloquetResult | None, located: bool,
                   theta: float | None = None, tangent_ratio: float | None = None
                   ) -> tuple[bool, str]:
    """``(located, reason)``: whether a located codim-2 point of a cycle curve passes the
    multiplier checks of its kind (reason "" when it does).

    Checks on the monodromy multipliers: trivial multiplier within TRIVIAL_TOL of 1; CPC: a
    double 1 (LPC_DOUBLE_TOL) and a parameter-plane tangent below 1e-4 of the full one
    (``tangent_ratio``); LPPD: -1 (TEST_TOL) and a double 1; LPNS: a complex pair on the unit
    circle (TEST_TOL) and a double 1; PDNS: -1 and a complex pair on the circle; R3/R4: the
    pair exp(+-i theta) at theta = 2 pi/3, pi/2 (TEST_TOL); R2: a double -1, R1: a triple 1
    (RESONANCE_TOL); GPD: -1 (TEST_TOL); CH: a complex pair on the circle (TEST_TOL)."""
    need = max(d.get(kind, 0) for d in CURVE_TESTS.values())
    if n < need:
        return False, f"{kind} needs at least {need} state variables (n = {n})"
    if not located:
        return False, "the locator did not converge"
    if fl is None:
        return False, "no Floquet multipliers at the located point"
    if not np.isfinite(fl.trivial_error) or fl.trivial_error > TRIVIAL_TOL:
        return False, (f"Floquet multipliers inaccurate: trivial multiplier error "
                       f"{fl.trivial_error:.2g} > {TRIVIAL_TOL:g}")
    mu = np.asarray(fl.multipliers)
    m = _nontrivial(mu)
    checks: list[tuple[str, bool, float, float]] = []
    if kind in ("CPC", "LPPD", "LPNS"):
        ok, d = _near(m, 1.0, 1, LPC_DOUBLE_TOL)
        checks.append(("a double multiplier 1", ok, d, LPC_DOUBLE_TOL))
    if kind in ("LPPD", "PDNS"):
        ok, d = _near(m, -1.0, 1, TEST_TOL)
        checks.append(("a multiplier -1", ok, d, TEST_TOL))
    if kind == "GPD":
        ok, d = _near(m, -1.0, 1, TEST_TOL)
        checks.append(("a multiplier -1", ok, d, TEST_TOL))
    if kind == "CH":
        d = abs(multiplier_ns_test(mu))
        d = d if np.isfinite(d) else math.inf
        checks.append(("a complex pair on the unit circle", d <= TEST_TOL, d, TEST_TOL))
    if kind in ("LPNS", "PDNS"):
        d = abs(multiplier_ns_test(mu))
        d = d if np.isfinite(d) else math.inf
        checks.append(("a complex pair on the unit circle", d <= TEST_TOL, d, TEST_TOL))
    if kind in ("R3", "R4"):
        th = 2 * math.pi / 3 if kind == "R3" else math.pi / 2
        ok1, d1 = _near(m, np.exp(1j * th), 1, TEST_TOL)
        ok2, d2 = _near(m, np.exp(-1j * th), 1, TEST_TOL)
        checks.append((f"the pair exp(+-i {th:.6g})", ok1 and ok2, max(d1, d2), TEST_TOL))
    if kind == "R2":
        ok, d = _near(m, -1.0, 2, RESONANCE_TOL)
        checks.append(("a double multiplier -1", ok, d, RESONANCE_TOL))
    if kind == "R1":
        ok, d = _near(m, 1.0, 2, RESONANCE_TOL)
        checks.append(("a triple multiplier 1", ok, d, RESONANCE_TOL))
    if kind == "CPC":
        r = math.inf if tangent_ratio is None else float(tangent_ratio)
        checks.append(("a parameter-plane tangent of zero", r <= 1e-4, r, 1e-4))
    for what, ok, d, tol in checks:
        if not ok:
            return False, f"no {what} (distance {d:.2g} > {tol:g})"
    return True, ""


def locate_on_curve(cont, A: dict, B: dict, fa: float, fb: float, value_of, tol: float,
                    max_iter: int):
    """Zero of a test function between curve points A and B (dicts with ``u`` and ``t``) by
    the Illinois method on points corrected with the curve's corrector; ``value_of(u, J)``
    gives the test at a corrected point.  Returns ``(u, J, tangent, converged)`` (u None when
    no point could be corrected)."""
    tA, uA = A["t"], A["u"]
    c = cont.weights * tA
    base = float(c @ uA)
    s_B = float(c @ (B["u"] - uA))

    def val(s: float):
        u, ok, _, _, J = cont.correct(uA + s * tA, c, base + s)
        if not ok:
            return None
        v = value_of(u, J)
        if not np.isfinite(v):
            return None
        return v, (u, J)

    s, payload, ok = locate_zero(val, 0.0, s_B, fa, fb, max_iter=max_iter,
                                 xtol=tol * max(abs(s_B), 1e-12), best=True)
    if payload is None:
        return None, None, None, False
    u, J = payload
    t = cont.tangent_at(u, J, tA)
    return u, J, t, bool(ok)


def bisect_on_curve(cont, A: dict, B: dict, sign_of, steps: int) -> tuple[dict, dict]:
    """Halve the bracket [A, B] of a sign change of ``sign_of(u, J)`` ``steps`` times along
    the curve (points corrected with the curve's corrector, parametrised along A's tangent);
    returns the new ends (dicts with ``u``, ``t``; the tangent stays A's)."""
    tA = A["t"]
    c = cont.weights * tA
    base = float(c @ A["u"])
    lo, hi = 0.0, float(c @ (B["u"] - A["u"]))
    f_lo = sign_of(A["u"], None)
    ua, ub = A["u"], B["u"]
    for _ in range(steps):
        s = 0.5 * (lo + hi)
        u, ok, _, _, J = cont.correct(A["u"] + s * tA, c, base + s)
        if not ok:
            break
        f = sign_of(u, J)
        if not np.isfinite(f):
            break
        if f * f_lo > 0:
            lo, ua = s, u
        else:
            hi, ub = s, u
    return {"u": ua, "t": tA}, {"u": ub, "t": tA}
