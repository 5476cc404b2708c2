"""Second and third directional derivatives of ``f(x, p)`` in x: exact when the problem
supplies them, otherwise finite differences whose step adapts to the problem.

The multilinear forms of the normal-form formulas are

* ``B(u, v) = D_x^2 f(x, p)[u, v]`` and
* ``C(u, v, w) = D_x^3 f(x, p)[u, v, w]``,

bilinear / trilinear in complex vectors (no conjugation).  They are reduced to real forms by
polarisation: ``B`` from the quadratic form ``Q(v) = B(v, v)`` and ``C`` from the cubic form
``K(v) = C(v, v, v)`` (four cubic forms suffice for ``C(q, q, conj(q))``, the term of the first
Lyapunov coefficient).

Finite differences (when no exact derivative is given) use Ridders' method: a symmetric
difference quotient ``D(h)`` (error ``c2 h^2 + c4 h^4 + ...``) is evaluated at ``h0, h0/2,
h0/4, ...`` and extrapolated in a Neville table (Richardson), which gives both the value and an
error estimate (the change between successive extrapolants); the table stops when the error
estimate grows by a factor 2 (rounding has taken over) and returns the entry with the smallest
estimate.  So the step is not a fixed multiple of machine epsilon: it is chosen, per
evaluation, by the observed smoothness of f along the direction - a steep sigmoid (gain 15)
simply makes the table go a few levels deeper.  ``h0`` is a tenth of the state's scale
(``max(1, max|x|)``).  When the problem has an exact Jacobian (``dfdx``), ``B`` is the
first difference of ``J(x + t u) v`` and ``C`` the second difference of ``J(x + t u) w``
(one order of differencing less than with f alone, so several more digits).

:func:`method` tells which route a problem takes (``"exact"`` or ``"finite-difference"``);
the normal-form code records it in ``data["derivatives"]``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ridders", "DirectionalDerivatives", "method"]

_EPS = np.finfo(float).eps


def ridders(D, h0: float, levels: int = 14, con: float = 2.0,
            safe: float = 2.0) -> tuple[np.ndarray, float]:
    """Ridders' extrapolation of ``D(h)`` to ``h -> 0`` for a quotient whose error is even in
    h; returns ``(value, error_estimate)`` (max-norm)."""
    con2 = con * con
    h = h0
    table = [[np.asarray(D(h), dtype=float)]]
    best, err = table[0][0], np.inf
    for i in range(1, levels):
        h /= con
        row = [np.asarray(D(h), dtype=float)]
        fac = con2
        for j in range(1, i + 1):
            row.append((row[j - 1] * fac - table[i - 1][j - 1]) / (fac - 1.0))
            fac *= con2
            e = max(float(np.max(np.abs(row[j] - row[j - 1]), initial=0.0)),
                    float(np.max(np.abs(row[j] - table[i - 1][j - 1]), initial=0.0)))
            if e <= err:
                err, best = e, row[j]
        table.append(row)
        if float(np.max(np.abs(row[i] - table[i - 1][i - 1]), initial=0.0)) >= safe * err:
            break
    return best, err


def method(problem, order: int = 3) -> str:
    """"exact" when ``problem`` supplies every derivative up to ``order`` (2 or 3), else
    "finite-difference"."""
    ok = getattr(problem, "d2f", None) is not None
    if order >= 3:
        ok = ok and getattr(problem, "d3f", None) is not None
    return "exact" if ok else "finite-difference"


def _ri(v) -> np.ndarray:
    v = np.asarray(v)
    return np.r_[np.real(v), np.imag(v)].astype(float)


def _key(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v).tobytes()


class DirectionalDerivatives:
    """``B`` and ``C`` of ``problem`` at ``(x, p)``, exact or by Ridders' finite differences.

    ``errors`` collects the finite-difference error estimates (max-norm, per evaluated form)
    so that a caller can report the accuracy it obtained; empty when exact.
    """

    def __init__(self, problem, x: np.ndarray, p: np.ndarray):
        self.pr = problem
        self.x = np.asarray(x, dtype=float)
        self.p = np.asarray(p, dtype=float)
        self.errors: list[float] = []
        self._quad_cache: dict[bytes, np.ndarray] = {}
        self._cub_cache: dict[bytes, np.ndarray] = {}
        self._fx: np.ndarray | None = None
        self._Jx = None
        self.h0 = 0.1 * max(1.0, float(np.max(np.abs(self.x), initial=0.0)))
        self.use_jac = problem.dfdx is not None

    def kind_used(self, order: int = 3) -> str:
        """"exact" or "finite-difference": how derivatives up to ``order`` are taken."""
        return method(self.pr, order)

    # ---------------------------------------------------------------- real forms
    def _f(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(self.pr.f(y, self.p), dtype=float)

    def _J(self, y: np.ndarray):
        return self.pr.dfdx(y, self.p)

    def _f0(self) -> np.ndarray:
        if self._fx is None:
            self._fx = self._f(self.x)
        return self._fx

    def _J0(self):
        if self._Jx is None:
            self._Jx = self._J(self.x)
        return self._Jx

    @staticmethod
    def _canonical(v: np.ndarray) -> tuple[np.ndarray, float, float, bytes]:
        """(unit direction with its first nonzero entry positive, norm, sign, cache key)."""
        nv = float(np.linalg.norm(v))
        d = v / nv
        k = int(np.flatnonzero(d)[0])
        sign = 1.0 if d[k] > 0 else -1.0
        d = sign * d
        return d, nv, sign, _key(np.round(d, 14))

    def _fd(self, cache: dict, d: np.ndarray, key: bytes, order: int) -> np.ndarray:
        """Q(d) (order 2) or K(d) (order 3) of a unit vector by Ridders' method."""
        if key in cache:
            return cache[key]
        x = self.x
        if self.use_jac:
            J0 = self._J0() if order == 3 else None

            def D(h):
                Jp, Jm = self._J(x + h * d), self._J(x - h * d)
                if order == 2:
                    return np.asarray((Jp - Jm) @ d).ravel() / (2 * h)
                return np.asarray((Jp - 2 * J0 + Jm) @ d).ravel() / (h * h)
        elif order == 2:
            f0 = self._f0()

            def D(h):
                return (self._f(x + h * d) - 2 * f0 + self._f(x - h * d)) / (h * h)
        else:
            def D(h):
                return (self._f(x + 2 * h * d) - 2 * self._f(x + h * d)
                        + 2 * self._f(x - h * d) - self._f(x - 2 * h * d)) / (2 * h**3)
        val, err = ridders(D, self.h0)
        self.errors.append(err)
        cache[key] = val
        return val

    def quad(self, v: np.ndarray) -> np.ndarray:
        """Q(v) = D^2 f[v, v] for real v."""
        if not np.any(v):
            return np.zeros(self.pr.n)
        if self.pr.d2f is not None:
            return np.asarray(self.pr.d2f(self.x, self.p, v, v), dtype=float)
        d, nv, _, key = self._canonical(np.asarray(v, dtype=float))
        return self._fd(self._quad_cache, d, key, 2) * nv**2

    def cubic(self, v: np.ndarray) -> np.ndarray:
        """K(v) = D^3 f[v, v, v] for real v."""
        if not np.any(v):
            return np.zeros(self.pr.n)
        if self.pr.d3f is not None:
            return np.asarray(self.pr.d3f(self.x, self.p, v, v, v), dtype=float)
        d, nv, sign, key = self._canonical(np.asarray(v, dtype=float))
        return self._fd(self._cub_cache, d, key, 3) * (sign * nv**3)

    def B_real(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Second directional derivative d2f(x, p)[a, b] (exact if the problem gives d2f)."""
        if self.pr.d2f is not None:
            return np.asarray(self.pr.d2f(self.x, self.p, a, b), dtype=float)
        if np.array_equal(a, b):
            return self.quad(a)
        return 0.25 * (self.quad(a + b) - self.quad(a - b))

    def C_real(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Third directional derivative d3f(x, p)[a, b, c] (exact if the problem gives d3f)."""
        if self.pr.d3f is not None:
            return np.asarray(self.pr.d3f(self.x, self.p, a, b, c), dtype=float)
        if np.array_equal(a, b) and np.array_equal(b, c):
            return self.cubic(a)
        K = self.cubic
        return (K(a + b + c) - K(a + b - c) - K(a - b + c) + K(a - b - c)) / 24.0

    # ---------------------------------------------------------------- complex forms
    def B(self, u: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
        """B(u, v) (complex allowed, bilinear)."""
        if v is None:
            v = u
        if not (np.iscomplexobj(u) or np.iscomplexobj(v)):
            return self.B_real(np.asarray(u, float), np.asarray(v, float))
        ur, ui, vr, vi = np.real(u), np.imag(u), np.real(v), np.imag(v)
        z = np.zeros(self.pr.n)
        re = (self.B_real(ur, vr) if ur.any() and vr.any() else z) - (
            self.B_real(ui, vi) if ui.any() and vi.any() else z)
        im = (self.B_real(ur, vi) if ur.any() and vi.any() else z) + (
            self.B_real(ui, vr) if ui.any() and vr.any() else z)
        return re + 1j * im

    def C(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """C(u, v, w) (complex allowed, trilinear)."""
        if (np.array_equal(u, v) and np.array_equal(w, np.conj(u))
                and np.iscomplexobj(u)):
            # C(q, q, conj q) = K(a) + C(a,b,b) + i (C(a,a,b) + K(b)), q = a + i b: four
            # cubic forms (exact ones too: d3f(v, v, v) costs one call instead of eight
            # trilinear evaluations)
            a, b = np.real(u), np.imag(u)
            Ka, Kb, Kp, Km = self.cubic(a), self.cubic(b), self.cubic(a + b), self.cubic(a - b)
            aab = ((Kp - Km) / 2 - Kb) / 3
            abb = ((Kp + Km) / 2 - Ka) / 3
            return (Ka + abb) + 1j * (aab + Kb)
        out = np.zeros(self.pr.n, dtype=complex)
        for a, ca in ((np.real(u), 1.0), (np.imag(u), 1j)):
            if not np.any(a):
                continue
            for b, cb in ((np.real(v), 1.0), (np.imag(v), 1j)):
                if not np.any(b):
                    continue
                for c, cc in ((np.real(w), 1.0), (np.imag(w), 1j)):
                    if not np.any(c):
                        continue
                    out = out + ca * cb * cc * self.C_real(a, b, c)
        if not (np.iscomplexobj(u) or np.iscomplexobj(v) or np.iscomplexobj(w)):
            return out.real
        return out

    # ---------------------------------------------------------------- fourth and fifth
    def _expand(self, fun, args) -> np.ndarray:
        """A real multilinear ``fun(*real args)`` applied to complex ``args`` (expansion
        over real and imaginary parts, zero parts skipped)."""
        out = np.zeros(self.pr.n, dtype=complex)
        parts = [[(np.real(a), 1.0), (np.imag(a), 1j)] for a in args]

        def rec(i, chosen, coef):
            nonlocal out
            if i == len(parts):
                out = out + coef * np.asarray(fun(*chosen), dtype=float)
                return
            for v, c in parts[i]:
                if np.any(v):
                    rec(i + 1, chosen + [v], coef * c)

        rec(0, [], 1.0 + 0j)
        return out

    def _c_at(self, y: np.ndarray):
        return DirectionalDerivatives(self.pr, y, self.p)

    def _ridders_complex(self, D) -> np.ndarray:
        val, err = ridders(lambda h: _ri(D(h)), self.h0)
        self.errors.append(err)
        n = self.pr.n
        return val[:n] + 1j * val[n:]

    def D(self, u, v, w, y) -> np.ndarray:
        """D^4 f[u, v, w, y] (complex allowed): exact with the problem's ``d4f``, else
        Ridders' differences of C along y (accurate when C is exact, i.e. with ``d3f``)."""
        if self.pr.d4f is not None:
            return self._expand(lambda *a: self.pr.d4f(self.x, self.p, *a), (u, v, w, y))
        out = np.zeros(self.pr.n, dtype=complex)
        for part, coef in ((np.real(y), 1.0), (np.imag(y), 1j)):
            nv = float(np.linalg.norm(part))
            if nv == 0:
                continue
            d = part / nv

            def Dh(h, d=d):
                return (self._c_at(self.x + h * d).C(u, v, w)
                        - self._c_at(self.x - h * d).C(u, v, w)) / (2 * h)

            out = out + coef * nv * self._ridders_complex(Dh)
        return out

    def E(self, u, v, w, y, z) -> np.ndarray:
        """D^5 f[u, v, w, y, z] (complex allowed): exact with the problem's ``d5f``, else
        Ridders' mixed second differences of C along y and z."""
        if self.pr.d5f is not None:
            return self._expand(lambda *a: self.pr.d5f(self.x, self.p, *a), (u, v, w, y, z))
        out = np.zeros(self.pr.n, dtype=complex)
        for py, cy in ((np.real(y), 1.0), (np.imag(y), 1j)):
            for pz, cz in ((np.real(z), 1.0), (np.imag(z), 1j)):
                ny, nz = float(np.linalg.norm(py)), float(np.linalg.norm(pz))
                if ny == 0 or nz == 0:
                    continue
                a, b = py / ny, pz / nz

                def Eh(h, a=a, b=b):
                    C = [self._c_at(self.x + h * (sa * a + sb * b)).C(u, v, w)
                         for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                    return (C[0] - C[1] - C[2] + C[3]) / (4 * h * h)

                out = out + cy * cz * ny * nz * self._ridders_complex(Eh)
        return out

    def kind_used_higher(self) -> str:
        """How the fourth and fifth derivatives are taken: "exact" (d4f, d5f),
        "ridders-on-exact-d3f" or "finite-difference"."""
        if self.pr.d4f is not None and self.pr.d5f is not None:
            return "exact"
        return "ridders-on-exact-d3f" if self.pr.d3f is not None else "finite-difference"

    @property
    def error(self) -> float:
        """Largest finite-difference error estimate so far (0 when everything was exact)."""
        return float(max(self.errors, default=0.0))
