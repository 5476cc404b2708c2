"""Normal-form coefficients: critical eigenvectors, the first Lyapunov coefficient of a Hopf
point (Kuznetsov's invariant formula), the quadratic fold coefficient, and the Hopf data a
periodic-orbit continuation needs to start a cycle.

Conventions (Kuznetsov, *Elements of Applied Bifurcation Theory*, 3rd ed., sec. 3.5, 8.7):
``A q = i omega q``, ``A^T p = -i omega p``, ``<q, q> = 1``, ``<p, q> = 1`` with
``<a, b> = conj(a)^T b``; x = x* + z q + conj(z q) + ...; the normal form on the centre
manifold is ``z' = i omega z + c1 z |z|^2 + ...`` and ``l1 = Re(c1) / omega``.  So for
``x' = mu x - y + s x (x^2+y^2), y' = x + mu y + s y (x^2+y^2)`` one gets ``l1 = 2 s``
(because ``<q, q> = 1`` makes ``|x| = sqrt(2) |z|``).  ``l1 < 0``: supercritical (stable
cycles are born), ``l1 > 0``: subcritical.
Second and third derivatives of f come from ``forms`` (a
:class:`~bifsnn.continuation.derivatives.DirectionalDerivatives`: exact when the problem
supplies them, else Ridders' finite differences); without ``forms`` central differences of
``F``.

Codim-2 coefficients (Kuznetsov, sec. 8.2-8.4, 8.7): the cusp coefficient ``c`` of
``x' = beta1 + beta2 x + c x^3``; the Bogdanov-Takens ``(a, b)`` of
``w0' = w1, w1' = beta1 + beta2 w0 + a w0^2 + b w0 w1`` (Jordan chain ``A q0 = 0``,
``A q1 = q0``, ``A^T p1 = 0``, ``A^T p0 = p1``, ``<q0, q0> = 1``, ``<q0, q1> = 0``,
``<p0, q0> = <p1, q1> = 1``, ``<p0, q1> = <p1, q0> = 0``, and the largest entry of q0
positive: flipping q0 flips (a, b)); and the zero-Hopf coefficients
``(g200, g011, h110)`` and ``(s, theta) = (g200 g011 sign, h110 / g200)`` of
``xi' = g200 xi^2 + g011 |z|^2 + ..., z' = i omega z + h110 xi z + ...`` with
``A q0 = 0``, ``A q1 = i omega q1``.  The double-Hopf (HH) coefficients of
``w1' = i omega1 w1 + G2100 w1 |w1|^2 + G1011 w1 |w2|^2 + ...``,
``w2' = i omega2 w2 + G1110 w2 |w1|^2 + G0021 w2 |w2|^2 + ...`` (Kuznetsov sec. 8.6.2,
``A q_j = i omega_j q_j``, ``<q_j, q_j> = 1``, ``<p_j, q_j> = 1``) and the amplitude
equations' ``p11 = Re G2100``, ``p12 = Re G1011``, ``p21 = Re G1110``, ``p22 = Re G0021``,
``theta = p12 / p22``, ``delta = p21 / p11`` (the ratios do not depend on the normalisation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from bifsnn.continuation.linalg import Factorization, multilinear_B, multilinear_C

__all__ = [
    "HopfData",
    "bogdanov_takens_coefficients",
    "critical_eigenvectors",
    "cusp_coefficient",
    "double_hopf_coefficients",
    "first_lyapunov",
    "fold_coefficient",
    "second_lyapunov",
    "zero_hopf_coefficients",
]


def _shifted(J, lam: complex):
    n = J.shape[0]
    if sp.issparse(J):
        dtype = complex if np.iscomplexobj(lam) and np.imag(lam) != 0 else float
        return sp.csc_matrix(J, dtype=dtype) - lam * sp.identity(n, dtype=dtype, format="csc")
    dtype = complex if np.imag(lam) != 0 else float
    lam = lam if dtype is complex else float(np.real(lam))
    return np.asarray(J, dtype=dtype) - lam * np.eye(n)


def critical_eigenvectors(J, lam: complex, n_iter: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Right and left eigenvectors (q, p) of ``J`` for an eigenvalue near ``lam``.

    Inverse iteration with the (nearly singular) shifted matrix.  Normalised so that
    ``<q, q> = 1`` and ``<p, q> = 1`` (``J^T p = conj(lam) p``).  Real for real ``lam``.
    """
    n = J.shape[0]
    rng = np.random.default_rng(7)
    fac = None
    shift = lam
    for k in range(4):
        try:
            fac = Factorization(_shifted(J, shift))
            break
        except np.linalg.LinAlgError:
            shift = lam + (1e-10 * (1 + abs(lam))) * (10.0 ** k) * (1 + 1j * (np.imag(lam) != 0))
    if fac is None:
        raise np.linalg.LinAlgError("cannot factorise J - lam I")
    complex_ = np.imag(shift) != 0
    q = rng.standard_normal(n) + (1j * rng.standard_normal(n) if complex_ else 0)
    p = rng.standard_normal(n) + (1j * rng.standard_normal(n) if complex_ else 0)
    for _ in range(n_iter):
        q = fac.solve(q)
        q = q / np.linalg.norm(q)
        p = fac.solve(p, trans="H")
        p = p / np.linalg.norm(p)
    if complex_:
        # fix the phase of q: make its largest component real positive
        k = int(np.argmax(np.abs(q)))
        q = q * np.exp(-1j * np.angle(q[k]))
    else:
        q, p = np.real(q), np.real(p)
        if q[int(np.argmax(np.abs(q)))] < 0:
            q = -q
    pq = np.vdot(p, q)
    p = p / np.conj(pq)
    return q, p


def _forms(F, x, forms):
    if forms is not None:
        return forms.B, forms.C
    return (lambda u, v: multilinear_B(F, x, u, v),  # noqa: E731
            lambda u, v, w: multilinear_C(F, x, u, v, w))


def first_lyapunov(F: Callable[[np.ndarray], np.ndarray] | None, x: np.ndarray, J,
                   omega: float, q: np.ndarray, p: np.ndarray, forms=None) -> float:
    """First Lyapunov coefficient l1 at a Hopf point (x, omega) of x' = F(x).

    ``q``, ``p`` as returned by :func:`critical_eigenvectors` for ``lam = i omega``;
    ``forms`` (``problem.directional(x, p)``) gives B and C, else finite differences of F.
    """
    n = x.size
    qb = np.conj(q)
    B, C = _forms(F, x, forms)
    h11 = Factorization(J).solve(B(q, qb).real)
    if sp.issparse(J):
        A2 = 2j * omega * sp.identity(n, dtype=complex, format="csc") - sp.csc_matrix(J,
                                                                                    dtype=complex)
    else:
        A2 = 2j * omega * np.eye(n) - np.asarray(J, dtype=complex)
    h20 = Factorization(A2).solve(B(q, q))
    val = (np.vdot(p, C(q, q, qb)) - 2 * np.vdot(p, B(q, h11))
           + np.vdot(p, B(qb, h20)))
    return float(np.real(val) / (2 * omega))


def _dense_or_sparse_shift(J, lam: complex):
    """lam I - J (complex; sparse CSC when J is sparse)."""
    n = J.shape[0]
    if sp.issparse(J):
        return lam * sp.identity(n, dtype=complex, format="csc") - sp.csc_matrix(J,
                                                                                 dtype=complex)
    return lam * np.eye(n) - np.asarray(J, dtype=complex)


def second_lyapunov(x: np.ndarray, J, omega: float, q: np.ndarray, p: np.ndarray,
                    forms) -> dict[str, float]:
    """Second Lyapunov coefficient l2 at a Bautin (generalised Hopf) point.

    Kuznetsov's invariant formula (*Elements*, 3rd ed., sec. 8.7.3; the same vectors as
    MatCont's ``nf_GH``): with ``h20 = (2 i w - A)^-1 B(q, q)``, ``h11 = -A^-1 B(q, conj q)``,
    ``h30``, ``h21`` (bordered, ``<p, h21> = 0``), ``h31``, ``h22`` and ``h32`` the order-5
    coefficient, ``c2 = <p, h32> / 12`` is the coefficient of ``z |z|^4`` in
    ``z' = i w z + c1 z |z|^2 + c2 z |z|^4`` and ``l2 = Re(c2) / omega`` (the convention of
    l1 here; MatCont's ``nf_GH`` returns ``Re(c2) = omega l2``).  For the Bautin normal form
    ``w' = (b1 + i) w + b2 w |w|^2 + s w |w|^4`` (``<q, q> = 1``, so ``|w| = sqrt 2 |z|``)
    ``l1 = 2 b2`` and ``l2 = 4 s``.  ``forms`` (``problem.directional(x, p)``) supplies B, C
    and the fourth/fifth derivatives D, E.  Returns ``l2``, ``c2`` (complex), ``c1`` (``l1 =
    Re(c1) / omega``, ~0 at the point) and how the derivatives were taken.
    """
    B, C, D, E = forms.B, forms.C, forms.D, forms.E
    A = J
    qb = np.conj(q)
    n = x.size
    fac_A = Factorization(A)
    h20 = Factorization(_dense_or_sparse_shift(A, 2j * omega)).solve(B(q, q))
    h11 = -fac_A.solve(np.real(B(q, qb))).astype(complex)
    h30 = Factorization(_dense_or_sparse_shift(A, 3j * omega)).solve(
        C(q, q, q) + 3 * B(q, h20))
    r21 = C(q, q, qb) + 2 * B(q, h11) + B(h20, qb)
    g21 = np.vdot(p, r21) / 2.0  # c1
    M = _dense_or_sparse_shift(A, 1j * omega)  # i w - A
    Mb = (-M).toarray() if sp.issparse(M) else -M  # A - i w
    K = np.zeros((n + 1, n + 1), dtype=complex)
    K[:n, :n] = Mb
    K[:n, n] = q
    K[n, :n] = np.conj(p)
    h21 = np.linalg.solve(K, np.r_[2 * g21 * q - r21, 0.0])[:n]
    h20b, h21b = np.conj(h20), np.conj(h21)
    r31 = (D(q, q, q, qb) + 3 * C(q, q, h11) + 3 * C(q, qb, h20) + 3 * B(h20, h11)
           + 3 * B(h21, q) + B(h30, qb) - 6 * g21 * h20)
    h31 = Factorization(_dense_or_sparse_shift(A, 2j * omega)).solve(r31)
    r22 = (D(q, q, qb, qb) + 4 * C(q, qb, h11) + 2 * np.real(C(qb, qb, h20))
           + 4 * np.real(B(h21, qb)) + 2 * B(h11, h11) + B(h20, h20b))
    h22 = -fac_A.solve(np.real(r22)).astype(complex)
    h32 = (E(q, q, q, qb, qb) + 6 * D(q, q, qb, h11) + 3 * D(qb, qb, q, h20)
           + D(q, q, q, h20b) + 6 * C(h11, h11, q) + 6 * C(qb, h20, h11)
           + 6 * C(qb, q, h21) + 3 * C(q, h20, h20b) + 3 * C(q, q, h21b)
           + C(qb, qb, h30) + 6 * B(h21, h11) + 3 * B(h22, q) + 3 * B(h20, h21b)
           + 2 * B(h31, qb) + B(h30, h20b))
    c2 = complex(np.vdot(p, h32) / 12.0)
    return {"l2": float(c2.real / omega), "c2": c2, "c1": complex(g21),
            "derivatives": forms.kind_used(3), "higher_derivatives": forms.kind_used_higher(),
            "derivative_error": float(forms.error)}


def fold_coefficient(F: Callable[[np.ndarray], np.ndarray] | None, x: np.ndarray,
                     q: np.ndarray, p: np.ndarray, forms=None) -> float:
    """Quadratic normal-form coefficient ``a = <p, B(q, q)> / 2`` of a fold (``<p, q> = 1``);
    zero at a cusp point."""
    B, _ = _forms(F, x, forms)
    return float(0.5 * np.dot(p, B(q, q)))


def _bordered_solve(J, q: np.ndarray, p: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The solution y of ``J y = rhs`` with ``<p, y> = 0`` for real ``rhs`` in the range of
    J, whose kernel is spanned by q and cokernel by p: the bordered system
    ``[[J, p], [q^T, 0]] [y; s] = [rhs; 0]``, then shifted along q."""
    from bifsnn.continuation.linalg import bordered

    n = q.size
    y = Factorization(bordered(J, p, q)).solve(np.r_[rhs, 0.0])[:n]
    return y - np.dot(p, y) / np.dot(p, q) * q


def cusp_coefficient(F, x: np.ndarray, J, q: np.ndarray, p: np.ndarray,
                     forms=None) -> float:
    """Cubic coefficient ``c = <p, C(q,q,q) + 3 B(q, h2)> / 6`` at a cusp (``J q = 0``,
    ``J^T p = 0``, ``<p, q> = 1``, ``<q, q> = 1``; ``J h2 = -B(q, q)`` with ``<p, h2> = 0``,
    solvable because ``<p, B(q, q)> = 0`` at a cusp)."""
    B, C = _forms(F, x, forms)
    bqq = B(q, q)
    r = -(bqq - np.dot(p, bqq) * q)  # project onto the range (exact at the cusp)
    h2 = _bordered_solve(J, q, p, r)
    return float(np.dot(p, C(q, q, q) + 3 * B(q, h2)) / 6.0)


def _jordan_chain(J) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(q0, q1, p0, p1) of a double-zero eigenvalue with one Jordan block (see the module
    docstring for the normalisation)."""
    from bifsnn.continuation.linalg import bordered

    A = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float)
    n = A.shape[0]
    U, s, Vt = np.linalg.svd(A)
    q0 = Vt[-1] / np.linalg.norm(Vt[-1])
    if q0[int(np.argmax(np.abs(q0)))] < 0:  # sign convention: (a, b) -> -(a, b) with q0
        q0 = -q0
    p1 = U[:, -1]
    # A q1 = q0, <q0, q1> = 0: bordered with the kernel / cokernel vectors
    M = bordered(A, p1, q0)
    q1 = np.linalg.solve(M, np.r_[q0, 0.0])[:n]
    p0 = np.linalg.solve(M.T, np.r_[p1, 0.0])[:n]
    # normalise: <p1, q1> = 1, then <p0, q0> = <p1, q1> automatically; <p0, q1> = 0
    p1 = p1 / np.dot(p1, q1)
    p0 = np.linalg.solve(M.T, np.r_[p1, 0.0])[:n]
    p0 = p0 - np.dot(p0, q1) * p1
    return q0, q1, p0, p1


def bogdanov_takens_coefficients(F, x: np.ndarray, J, forms=None) -> dict[str, float]:
    """Normal-form coefficients ``a = <p1, B(q0, q0)> / 2`` and
    ``b = <p0, B(q0, q0)> + <p1, B(q0, q1)>`` at a Bogdanov-Takens point (Kuznetsov
    eq. 8.52; the Jordan chain as in the module docstring)."""
    B, _ = _forms(F, x, forms)
    q0, q1, p0, p1 = _jordan_chain(J)
    b00 = B(q0, q0)
    return {"a": float(0.5 * p1 @ b00), "b": float(p0 @ b00 + p1 @ B(q0, q1)),
            "q0": q0, "q1": q1, "p0": p0, "p1": p1}


def zero_hopf_coefficients(F, x: np.ndarray, J, omega: float, forms=None) -> dict:
    """Coefficients of the zero-Hopf normal form (Kuznetsov sec. 8.5, eq. 8.80)
    ``xi' = g200 xi^2 + g011 |z|^2 + ...``, ``z' = i omega z + h110 xi z + ...`` with
    ``g200 = <p0, B(q0, q0)> / 2``, ``g011 = <p0, B(q1, conj q1)>``,
    ``h110 = <p1, B(q0, q1)>`` (``<q0,q0> = <q1,q1> = 1``, ``<p0,q0> = <p1,q1> = 1``);
    also ``s = sign(g200 g011)`` and ``theta = Re(h110) / g200``, which fix the unfolding
    (s = 1 or -1, theta's sign: Kuznetsov's four cases)."""
    B, _ = _forms(F, x, forms)
    q0, p0 = critical_eigenvectors(J, 0.0)
    q1, p1 = critical_eigenvectors(J, 1j * omega)
    g200 = 0.5 * float(np.dot(p0, B(q0, q0)))
    g011 = float(np.real(np.dot(p0, B(q1, np.conj(q1)))))
    h110 = complex(np.vdot(p1, B(q0, q1)))
    return {"g200": g200, "g011": g011, "h110": h110,
            "s": float(np.sign(g200 * g011)),
            "theta": float(h110.real / g200) if g200 != 0 else float("nan")}


def double_hopf_coefficients(F, x: np.ndarray, J, omega1: float, omega2: float,
                             forms=None) -> dict:
    """Normal-form coefficients at a double-Hopf point with eigenvalues +-i omega1,
    +-i omega2 (omega1, omega2 > 0, no 1:1, 1:2, 1:3 resonance): the cubic coefficients
    ``G2100, G1011, G1110, G0021`` of the complex normal form (module docstring; Kuznetsov's
    formulas with the quadratic centre-manifold terms ``h`` from ``(lambda - A) h = B(.,.)``)
    and ``p11, p12, p21, p22, theta, delta``.  ``forms`` gives B and C (else finite
    differences of ``F``)."""
    for name, om in (("omega1", omega1), ("omega2", omega2)):
        if not (np.isfinite(om) and om > 0):
            raise ValueError(f"{name} = {om!r} is out of range: must be a finite number > 0")
    if abs(omega1 - omega2) <= 1e-8 * (omega1 + omega2):
        raise ValueError(f"omega1 = omega2 = {omega1!r}: a 1:1 resonance, not a double Hopf "
                         "point with distinct frequencies")
    B, C = _forms(F, x, forms)
    q1, p1 = critical_eigenvectors(J, 1j * omega1)
    q2, p2 = critical_eigenvectors(J, 1j * omega2)
    q1b, q2b = np.conj(q1), np.conj(q2)

    def solve(lam: complex, rhs: np.ndarray) -> np.ndarray:  # (lam - A) h = rhs
        if lam == 0:
            return -Factorization(J).solve(np.real(rhs))
        return Factorization(_shifted(J, lam)).solve(-np.asarray(rhs, dtype=complex))

    i1, i2 = 1j * omega1, 1j * omega2
    h2000 = solve(2 * i1, B(q1, q1))
    h1100 = solve(0, B(q1, q1b))
    h0020 = solve(2 * i2, B(q2, q2))
    h0011 = solve(0, B(q2, q2b))
    h1010 = solve(i1 + i2, B(q1, q2))
    h1001 = solve(i1 - i2, B(q1, q2b))
    h0110 = np.conj(h1001)
    g2100 = 0.5 * np.vdot(p1, C(q1, q1, q1b) + B(h2000, q1b) + 2 * B(h1100, q1))
    g1011 = np.vdot(p1, C(q1, q2, q2b) + B(h1010, q2b) + B(h1001, q2) + B(h0011, q1))
    g1110 = np.vdot(p2, C(q1, q1b, q2) + B(h1100, q2) + B(h1010, q1b) + B(h0110, q1))
    g0021 = 0.5 * np.vdot(p2, C(q2, q2, q2b) + B(h0020, q2b) + 2 * B(h0011, q2))
    p11, p12, p21, p22 = (float(np.real(g)) for g in (g2100, g1011, g1110, g0021))
    return {"G2100": complex(g2100), "G1011": complex(g1011), "G1110": complex(g1110),
            "G0021": complex(g0021), "p11": p11, "p12": p12, "p21": p21, "p22": p22,
            "theta": p12 / p22 if p22 != 0 else float("nan"),
            "delta": p21 / p11 if p11 != 0 else float("nan"),
            "omega1": float(omega1), "omega2": float(omega2)}


@dataclass
class HopfData:
    """Everything a cycle continuation needs to start at a Hopf point.

    ``x`` equilibrium, ``p`` full parameter vector, ``param`` index of the continuation
    parameter, ``omega`` angular frequency (period 2*pi/omega), ``q`` critical right
    eigenvector (``<q,q> = 1``), ``p_adj`` left eigenvector (``<p_adj,q> = 1``), ``l1`` first
    Lyapunov coefficient, ``dre_dp`` = d Re(lambda)/d param (transversality).
    """

    x: np.ndarray
    p: np.ndarray
    param: int
    omega: float
    q: np.ndarray
    p_adj: np.ndarray
    l1: float | None
    dre_dp: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def period(self) -> float:
        """Period 2 pi / omega of the cycles born at the Hopf point."""
        return 2 * np.pi / self.omega

    @property
    def criticality(self) -> str:
        """supercritical (l1 < 0), subcritical (l1 > 0), degenerate or unknown."""
        if self.l1 is None or not np.isfinite(self.l1):
            return "unknown"
        return "supercritical" if self.l1 < 0 else "subcritical" if self.l1 > 0 else "degenerate"

    @property
    def param_value(self) -> float:
        """Value of the continuation parameter at the Hopf point."""
        return float(self.p[self.param])

    def side(self) -> float:
        """Sign of (param - param*) on which the small cycles exist (nan if unknown)."""
        if not self.l1 or not self.dre_dp:
            return float("nan")
        return float(np.sign(-self.dre_dp / self.l1))

    def amplitude(self, dparam: float) -> float:
        """Predicted |z| of the cycle at param* + dparam (leading order, NaN where no cycle);
        the cycle is x(t) ~ x* + 2 Re(z e^{i omega t} q)."""
        if not self.l1 or not self.dre_dp:
            return float("nan")
        rho2 = -self.dre_dp * dparam / (self.omega * self.l1)
        return float(np.sqrt(rho2)) if rho2 >= 0 else float("nan")

    def predicted_amplitude(self, dparam: float) -> float:
        """Predicted max-norm amplitude of x(t) - x*: 2 |z| max_k |q_k|."""
        return 2 * self.amplitude(dparam) * float(np.max(np.abs(self.q)))

    def cycle_guess(self, dparam: float | None = None, amplitude: float | None = None,
                    n_points: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Initial cycle: ``(t, X, p, T)`` with ``X`` of shape (n_points, n) sampled on
        ``t`` in [0, T) and ``p`` the parameter vector.  Give ``dparam`` (uses the predicted
        amplitude, falling back to ``amplitude`` or 1e-3) or ``amplitude`` (|z|)."""
        p = self.p.copy()
        z = None
        if dparam is not None:
            p[self.param] += dparam
            z = self.amplitude(dparam)
        if z is None or not np.isfinite(z):
            z = amplitude if amplitude is not None else 1e-3
        T = self.period
        t = np.linspace(0.0, T, n_points, endpoint=False)
        X = self.x[None, :] + 2 * z * np.real(np.exp(1j * self.omega * t)[:, None] * self.q)
        return t, X, p, T

    @classmethod
    def at(cls, branch, point) -> HopfData:
        """The Hopf data of a Hopf point of an equilibrium branch (``point``: an 'H'
        SpecialPoint or an index into ``branch.special_points``)."""
        point = branch.point(point, "H")
        d = point.data
        k = point.param_indices[0]
        if "q" not in d:
            J = branch.problem.jac_x(point.x, point.p)
            q, pa = critical_eigenvectors(J, 1j * d["omega"])
        else:
            q, pa = d["q"], d["p_adj"]
        return cls(x=point.x.copy(), p=point.p.copy(), param=k, omega=float(d["omega"]),
                   q=q, p_adj=pa, l1=d.get("l1"), dre_dp=d.get("dre_dp"))
