"""Accuracy of located points and normal-form coefficients on textbook models (issue 9).

For every row the engine's value is compared with a reference that is either analytic (the
normal forms: the coefficient is the one written into the model; closed-form Hopf points of
FitzHugh-Nagumo and the Brusselator) or computed independently in 40-digit arithmetic
(mpmath): the point is located by ``mpmath.findroot`` on its defining equations (Hopf:
``f = 0, J q = i omega q``; BT: ``f = 0, J q0 = 0, J q1 = q0``; ZH: ``f = 0, J q0 = 0,
J q1 = i omega q1``; cusp: ``f = 0, J q = 0, <p, B(q, q)> = 0``; GH: the Hopf equations and
``l1 = 0``) with the model's sympy derivatives evaluated in mpmath, and the coefficient is
Kuznetsov's invariant formula in the same arithmetic.  The engine runs each model twice:
with exact derivatives (``ODEProblem.from_sympy``) and with only ``f`` (Ridders finite
differences of f, the worst case).  ``digits`` = -log10 of the relative error (absolute error
where the reference is 0), capped at 16.

Run:  PYTHONPATH=. python3 benchmarks/bench_continuation_accuracy.py [--out FILE.md]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import time
from pathlib import Path

import mpmath as mp
import numpy as np
import sympy as sp
from scipy.optimize import fsolve

from bifsnn.continuation import (
    ContinuationOptions,
    ODEProblem,
    continue_equilibria,
    continue_fold,
    continue_hopf,
)
from bifsnn.continuation.normal_forms import critical_eigenvectors, first_lyapunov

mp.mp.dps = 40


# ----------------------------------------------------------------------------- mpmath side
class MPModel:
    """The model's f, J, B, C (from sympy) evaluated in mpmath."""

    def __init__(self, exprs, xs, ps):
        self.n = len(xs)
        self.xs, self.ps = list(xs), list(ps)
        J = sp.Matrix(exprs).jacobian(xs)
        H = [[[sp.diff(J[i, j], xk) for xk in xs] for j in range(self.n)]
             for i in range(self.n)]
        T = [[[[sp.diff(H[i][j][k], xl) for xl in xs] for k in range(self.n)]
               for j in range(self.n)] for i in range(self.n)]
        args = (self.xs, self.ps)
        self._f = sp.lambdify(args, list(exprs), "mpmath")
        self._J = sp.lambdify(args, J.tolist(), "mpmath")
        self._H = sp.lambdify(args, H, "mpmath")
        self._T = sp.lambdify(args, T, "mpmath")

    def f(self, x, p):
        return mp.matrix(self._f(list(x), list(p)))

    def J(self, x, p):
        return mp.matrix(self._J(list(x), list(p)))

    def B(self, x, p, u, v):
        H = self._H(list(x), list(p))
        n = self.n
        return mp.matrix([mp.fsum(H[i][j][k] * u[j] * v[k] for j in range(n) for k in range(n))
                          for i in range(n)])

    def C(self, x, p, u, v, w):
        T = self._T(list(x), list(p))
        n = self.n
        return mp.matrix([mp.fsum(T[i][j][k][l_] * u[j] * v[k] * w[l_] for j in range(n)
                                  for k in range(n) for l_ in range(n)) for i in range(n)])


def _dot(a, b):  # <a, b> = conj(a)^T b
    return mp.fsum(mp.conj(a[i]) * b[i] for i in range(len(a)))


def _left_null(A, guess):
    """Left null vector of a (nearly) singular mp matrix via a bordered solve."""
    n = A.rows
    M = mp.matrix(n + 1, n + 1)
    for i in range(n):
        for j in range(n):
            M[i, j] = A[j, i]
        M[i, n] = mp.mpf(guess[i])
        M[n, i] = mp.mpf(guess[i])
    rhs = mp.matrix(n + 1, 1)
    rhs[n] = 1
    y = mp.lu_solve(M, rhs)
    return mp.matrix([y[i] for i in range(n)])


def _null(A, guess):
    n = A.rows
    M = mp.matrix(n + 1, n + 1)
    for i in range(n):
        for j in range(n):
            M[i, j] = A[i, j]
        M[i, n] = mp.mpf(guess[i])
        M[n, i] = mp.mpf(guess[i])
    rhs = mp.matrix(n + 1, 1)
    rhs[n] = 1
    y = mp.lu_solve(M, rhs)
    return mp.matrix([y[i] for i in range(n)])


def _set(p, idx, vals):
    p = list(p)
    for k, v in zip(idx, vals, strict=True):
        p[k] = v
    return p


def mp_hopf(m: MPModel, x, p, free, omega, q, extra=None):
    """Hopf point (x, p[free], omega, q) by findroot; ``extra``: an additional equation
    g(x, p, omega, q) = 0 when two parameters are free (GH)."""
    n = m.n
    c = [mp.mpf(float(v)) for v in np.real(q)]
    q = np.asarray(q) / np.dot(np.real(q), np.real(q))

    def eqs(*z):
        x_ = z[:n]
        pp = _set(p, free, z[n:n + len(free)])
        om = z[n + len(free)]
        qr = z[n + len(free) + 1: 2 * n + len(free) + 1]
        qi = z[2 * n + len(free) + 1:]
        F = m.f(x_, pp)
        J = m.J(x_, pp)
        qq = mp.matrix([qr[i] + 1j * qi[i] for i in range(n)])
        R = J * qq - 1j * om * qq
        out = [F[i] for i in range(n)] + [mp.re(R[i]) for i in range(n)] + \
            [mp.im(R[i]) for i in range(n)]
        out += [mp.fsum(c[i] * qr[i] for i in range(n)) - 1,
                mp.fsum(c[i] * qi[i] for i in range(n))]
        if extra is not None:
            out.append(extra(x_, pp, om, qq))
        return out

    z0 = [mp.mpf(float(v)) for v in x] + [mp.mpf(float(p[k])) for k in free] + \
        [mp.mpf(float(omega))] + [mp.mpf(float(v)) for v in np.real(q)] + \
        [mp.mpf(float(v)) for v in np.imag(q)]
    z = mp.findroot(eqs, z0, tol=mp.mpf(10) ** -34, maxsteps=100)
    z = [z[i] for i in range(len(z0))]
    x_ = z[:n]
    pp = _set(p, free, z[n:n + len(free)])
    om = z[n + len(free)]
    qq = mp.matrix([z[n + len(free) + 1 + i] + 1j * z[2 * n + len(free) + 1 + i]
                    for i in range(n)])
    return x_, pp, om, qq


def mp_l1(m: MPModel, x, p, om, q):
    """Kuznetsov's l1 with <q, q> = 1, <p, q> = 1 (40 digits)."""
    n = m.n
    q = q / mp.sqrt(mp.re(_dot(q, q)))
    J = m.J(x, p)
    A = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            A[i, j] = J[j, i] + (1j * om if i == j else 0)  # J^T + i omega: J^T p = -i om p
    pv = _left_null_c(A, q)
    pv = pv / mp.conj(_dot(pv, q))
    qb = mp.matrix([mp.conj(v) for v in q])
    h11 = mp.lu_solve(J, m.B(x, p, q, qb))
    A2 = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            A2[i, j] = (2j * om if i == j else 0) - J[i, j]
    h20 = mp.lu_solve(A2, m.B(x, p, q, q))
    val = _dot(pv, m.C(x, p, q, q, qb)) - 2 * _dot(pv, m.B(x, p, q, h11)) + \
        _dot(pv, m.B(x, p, qb, h20))
    return mp.re(val) / (2 * om)


def _left_null_c(A, guess):
    """Null vector of the complex matrix A (bordered with conj(guess))."""
    n = A.rows
    M = mp.matrix(n + 1, n + 1)
    for i in range(n):
        for j in range(n):
            M[i, j] = A[i, j]
        M[i, n] = mp.conj(guess[i])
        M[n, i] = mp.conj(guess[i])
    rhs = mp.matrix(n + 1, 1)
    rhs[n] = 1
    y = mp.lu_solve(M, rhs)
    return mp.matrix([y[i] for i in range(n)])


def mp_bt(m: MPModel, x, p, free, q0):
    """BT point and (a, b) (normalisation of normal_forms: <q0,q0> = 1, <q0,q1> = 0,
    largest entry of q0 positive)."""
    n = m.n
    c = [mp.mpf(float(v)) for v in q0]

    def eqs(*z):
        x_ = z[:n]
        pp = _set(p, free, z[n:n + 2])
        a0 = mp.matrix(z[n + 2:2 * n + 2])
        a1 = mp.matrix(z[2 * n + 2:])
        J = m.J(x_, pp)
        F = m.f(x_, pp)
        r0 = J * a0
        r1 = J * a1 - a0
        return [F[i] for i in range(n)] + [r0[i] for i in range(n)] + \
            [r1[i] for i in range(n)] + [mp.fsum(c[i] * a0[i] for i in range(n)) - 1,
                                         mp.fsum(c[i] * a1[i] for i in range(n))]

    z0 = [mp.mpf(float(v)) for v in x] + [mp.mpf(float(p[k])) for k in free] + \
        [mp.mpf(float(v)) for v in q0] + [mp.mpf(0)] * n
    z = mp.findroot(eqs, z0, tol=mp.mpf(10) ** -34, maxsteps=100)
    z = [z[i] for i in range(len(z0))]
    x_ = z[:n]
    pp = _set(p, free, z[n:n + 2])
    J = m.J(x_, pp)
    q0m = mp.matrix(z[n + 2:2 * n + 2])
    q0m = q0m / mp.norm(q0m)
    k = max(range(n), key=lambda i: abs(q0m[i]))
    if q0m[k] < 0:
        q0m = -q0m
    # q1: J q1 = q0, <q0, q1> = 0; p1: J^T p1 = 0, <p1, q1> = 1; p0: J^T p0 = p1, <p0, q1> = 0
    M = mp.matrix(n + 1, n + 1)
    p1 = _left_null(J, [float(v) for v in q0m])
    for i in range(n):
        for j in range(n):
            M[i, j] = J[i, j]
        M[i, n] = p1[i]
        M[n, i] = q0m[i]
    rhs = mp.matrix(n + 1, 1)
    for i in range(n):
        rhs[i] = q0m[i]
    y = mp.lu_solve(M, rhs)
    q1 = mp.matrix([y[i] for i in range(n)])
    p1 = p1 / mp.fsum(p1[i] * q1[i] for i in range(n))
    rhs = mp.matrix(n + 1, 1)
    for i in range(n):
        rhs[i] = p1[i]
    y = mp.lu_solve(M.T, rhs)
    p0 = mp.matrix([y[i] for i in range(n)])
    p0 = p0 - mp.fsum(p0[i] * q1[i] for i in range(n)) * p1
    b00 = m.B(x_, pp, q0m, q0m)
    a = mp.fsum(p1[i] * b00[i] for i in range(n)) / 2
    b01 = m.B(x_, pp, q0m, q1)
    b = mp.fsum(p0[i] * b00[i] for i in range(n)) + mp.fsum(p1[i] * b01[i] for i in range(n))
    return [pp[k] for k in free], a, b


def mp_zh(m: MPModel, x, p, free, omega, q1):
    """ZH point (two parameters) and (g200, g011, theta)."""
    n = m.n
    J0 = np.array([[float(v) for v in row] for row in m.J(x, p).tolist()])
    w, V = np.linalg.eig(J0)
    v0 = np.real(V[:, int(np.argmin(np.abs(w)))])
    c0 = [mp.mpf(float(v)) for v in v0 / np.dot(v0, v0)]
    c1 = [mp.mpf(float(v)) for v in np.real(q1)]
    q1 = np.asarray(q1) / np.dot(np.real(q1), np.real(q1))

    def eqs(*z):
        x_ = z[:n]
        pp = _set(p, free, z[n:n + 2])
        om = z[n + 2]
        a0 = mp.matrix(z[n + 3:2 * n + 3])
        qr = z[2 * n + 3:3 * n + 3]
        qi = z[3 * n + 3:]
        qq = mp.matrix([qr[i] + 1j * qi[i] for i in range(n)])
        J = m.J(x_, pp)
        F = m.f(x_, pp)
        r0 = J * a0
        R = J * qq - 1j * om * qq
        return [F[i] for i in range(n)] + [r0[i] for i in range(n)] + \
            [mp.fsum(c0[i] * a0[i] for i in range(n)) - 1] + \
            [mp.re(R[i]) for i in range(n)] + [mp.im(R[i]) for i in range(n)] + \
            [mp.fsum(c1[i] * qr[i] for i in range(n)) - 1,
             mp.fsum(c1[i] * qi[i] for i in range(n))]

    z0 = [mp.mpf(float(v)) for v in x] + [mp.mpf(float(p[k])) for k in free] + \
        [mp.mpf(float(omega))] + [mp.mpf(float(v)) for v in v0] + \
        [mp.mpf(float(v)) for v in np.real(q1)] + [mp.mpf(float(v)) for v in np.imag(q1)]
    z = mp.findroot(eqs, z0, tol=mp.mpf(10) ** -34, maxsteps=100)
    z = [z[i] for i in range(len(z0))]
    x_ = z[:n]
    pp = _set(p, free, z[n:n + 2])
    om = z[n + 2]
    J = m.J(x_, pp)
    q0m = mp.matrix(z[n + 3:2 * n + 3])
    q0m = q0m / mp.norm(q0m)
    k = max(range(n), key=lambda i: abs(q0m[i]))
    if q0m[k] < 0:  # the engine's convention: largest entry of q0 positive
        q0m = -q0m
    p0 = _left_null(J, [float(v) for v in q0m])
    p0 = p0 / mp.fsum(p0[i] * q0m[i] for i in range(n))
    qq = mp.matrix([z[2 * n + 3 + i] + 1j * z[3 * n + 3 + i] for i in range(n)])
    qq = qq / mp.sqrt(mp.re(_dot(qq, qq)))
    A = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            A[i, j] = J[j, i] + (1j * om if i == j else 0)
    p1 = _left_null_c(A, qq)
    p1 = p1 / mp.conj(_dot(p1, qq))
    qb = mp.matrix([mp.conj(v) for v in qq])
    g200 = mp.fsum(p0[i] * m.B(x_, pp, q0m, q0m)[i] for i in range(n)) / 2
    g011 = mp.re(mp.fsum(p0[i] * m.B(x_, pp, qq, qb)[i] for i in range(n)))
    h110 = _dot(p1, m.B(x_, pp, q0m, qq))
    return [pp[k] for k in free], om, g200, g011, mp.re(h110) / g200


def mp_cusp(m: MPModel, x, p, free, q):
    """Cusp point and c (<q, q> = 1, <p, q> = 1)."""
    n = m.n
    c = [mp.mpf(float(v)) for v in q]

    def eqs(*z):
        x_ = z[:n]
        pp = _set(p, free, z[n:n + 2])
        a0 = mp.matrix(z[n + 2:])
        J = m.J(x_, pp)
        F = m.f(x_, pp)
        r0 = J * a0
        pl = _left_null(J, [float(v) for v in q])
        bqq = m.B(x_, pp, a0, a0)
        return [F[i] for i in range(n)] + [r0[i] for i in range(n)] + \
            [mp.fsum(c[i] * a0[i] for i in range(n)) - 1,
             mp.fsum(pl[i] * bqq[i] for i in range(n))]

    z0 = [mp.mpf(float(v)) for v in x] + [mp.mpf(float(p[k])) for k in free] + \
        [mp.mpf(float(v)) for v in q]
    z = mp.findroot(eqs, z0, tol=mp.mpf(10) ** -34, maxsteps=100)
    z = [z[i] for i in range(len(z0))]
    x_ = z[:n]
    pp = _set(p, free, z[n:n + 2])
    J = m.J(x_, pp)
    qm = mp.matrix(z[n + 2:])
    qm = qm / mp.norm(qm)
    k = max(range(n), key=lambda i: abs(qm[i]))
    if qm[k] < 0:
        qm = -qm
    pl = _left_null(J, [float(v) for v in qm])
    pl = pl / mp.fsum(pl[i] * qm[i] for i in range(n))
    bqq = m.B(x_, pp, qm, qm)
    # J h2 = -B(q, q) with <p, h2> = 0
    M = mp.matrix(n + 1, n + 1)
    for i in range(n):
        for j in range(n):
            M[i, j] = J[i, j]
        M[i, n] = pl[i]
        M[n, i] = qm[i]
    rhs = mp.matrix(n + 1, 1)
    for i in range(n):
        rhs[i] = -bqq[i]
    y = mp.lu_solve(M, rhs)
    h2 = mp.matrix([y[i] for i in range(n)])
    h2 = h2 - mp.fsum(pl[i] * h2[i] for i in range(n)) / mp.fsum(pl[i] * qm[i]
                                                                  for i in range(n)) * qm
    val = m.C(x_, pp, qm, qm, qm) + 3 * m.B(x_, pp, qm, h2)
    return [pp[k] for k in free], mp.fsum(pl[i] * val[i] for i in range(n)) / 6


# ----------------------------------------------------------------------------- models
def _sym(names):
    return sp.symbols(names)


def bautin_nf():
    x, y, b1, b2 = _sym("x y b1 b2")
    r2 = x**2 + y**2
    g = b1 + b2 * r2 - r2**2
    return [g * x - y, x + g * y], [x, y], [b1, b2]


def bt_nf(a=0.7, b=-1.3):
    x, y, b1, b2 = _sym("x y b1 b2")
    return [y, b1 + b2 * x + a * x**2 + b * x * y], [x, y], [b1, b2]


def cusp_nf(s=-0.8):
    x, y, b1, b2 = _sym("x y b1 b2")
    return [b1 + b2 * x + s * x**3, -y + x**2], [x, y], [b1, b2]


def wilson_cowan():
    E, I, P, g = _sym("E I P g")
    S = lambda u: 1 / (1 + sp.exp(-u))  # noqa: E731
    return [-E + S(g * (E - I + P - 0.3)), (-I + S(g * (E - 0.2 * I - 0.45))) / 2], [E, I], \
        [P, g]


def fitzhugh_nagumo():
    v, w, I, eps, a, b = _sym("v w I eps a b")
    return [v - v**3 / 3 - w + I, eps * (v + a - b * w)], [v, w], [I, eps, a, b]


def morris_lecar():
    V, w, I = _sym("V w I")
    C, gL, gCa, gK, VL, VCa, VK, V1, V2, V3, V4, phi = (
        20, 2, 4.4, 8, -60, 120, -84, -1.2, 18, 2, 30, sp.Rational(1, 25))
    minf = (1 + sp.tanh((V - V1) / V2)) / 2
    winf = (1 + sp.tanh((V - V3) / V4)) / 2
    tau = 1 / sp.cosh((V - V3) / (2 * V4))
    return [(I - gL * (V - VL) - gCa * minf * (V - VCa) - gK * w * (V - VK)) / C,
            phi * (winf - w) / tau], [V, w], [I]


def lorenz84():
    x, y, z, F, G, a, b = _sym("x y z F G a b")
    return [-y**2 - z**2 - a * x + a * F, x * y - b * x * z - y + G, b * x * y + x * z - z], \
        [x, y, z], [F, G, a, b]


def brusselator():
    x, y, A, B = _sym("x y A B")
    return [A - (B + 1) * x + x**2 * y, B * x - x**2 * y], [x, y], [A, B]


# ----------------------------------------------------------------------------- engine side
def problems(model, x0, p0, param):
    exprs, xs, ps = model
    exact = ODEProblem.from_sympy(exprs, xs, ps, x0, p0, param=param)
    fd = ODEProblem(exact.f, exact.x0, exact.p0, param=param, param_names=exact.param_names)
    return {"exact": exact, "finite-difference": fd}


def _equilibrium(pr, guess):
    return fsolve(lambda x: pr.f(x, pr.p0), guess, xtol=1e-14)


def digits(val, ref) -> float:
    ref = float(ref)
    err = abs(float(val) - ref)
    scale = abs(ref) if ref != 0 else 1.0
    if err == 0:
        return 16.0
    return min(16.0, -math.log10(err / scale))


ROWS: list[tuple] = []
BEFORE = "fixed-step FD (before)"


def row(problem, quantity, ref, how, values):
    """values: {mode: engine value}."""
    for mode, v in values.items():
        ROWS.append((problem, quantity, float(ref), how, mode, float(v), digits(v, ref)))


def run_hopf_l1(name, model, x0, p0, param, opts, h_index=0, ref_param=None, ref_how=""):
    """Hopf point of an EP branch and its l1 against mpmath."""
    m = MPModel(*model)
    vals_p, vals_l1, hs = {}, {}, {}
    for mode, pr in problems(model, x0, p0, param).items():
        pr.x0 = _equilibrium(pr, pr.x0)
        br = continue_equilibria(pr, opts)
        h = br.points("H")[h_index]
        hs[mode] = h
        vals_p[mode] = h.param
        vals_l1[mode] = h.data["l1"]
    h = hs["exact"]
    k = h.param_indices[0]
    xm, pm, om, qm = mp_hopf(m, h.x, h.p, [k], h.data["omega"], h.data["q"])
    l1 = mp_l1(m, xm, pm, om, qm)
    label = f"Hopf {param}"
    if ref_param is None:
        row(name, label, pm[k], "mpmath findroot (40 digits)", vals_p)
    else:
        row(name, label, ref_param, ref_how, vals_p)
    # the engine before issue 9: fixed-step 4th-order differences of f (eps^(1/6), eps^(1/7))
    pr = problems(model, x0, p0, param)["exact"]
    J = pr.dfdx(h.x, h.p)
    vals_l1[BEFORE] = first_lyapunov(lambda y: pr.f(y, h.p), h.x, J, h.data["omega"],
                                     h.data["q"], h.data["p_adj"])
    row(name, "l1", l1, "Kuznetsov formula, mpmath (40 digits)", vals_l1)
    return hs


def network_section() -> list[str]:
    """The reduced network model: l1 at its first Hopf point in p_EI with Ridders on the
    analytic Jacobian, Ridders on f alone, and the previous fixed-step differences of f;
    CPU time per l1 (same process)."""
    from bifsnn.network.params import NetworkParams
    from bifsnn.reduction import MarkovModelDef, find_equilibrium

    params = NetworkParams()
    model = MarkovModelDef(params).compile()
    eq = find_equilibrium(model)
    # Ridders routes only: the exact (Taylor-series) derivatives the problem now has by
    # default are compared in benchmarks/network_normal_forms.md
    pr = model.ode_problem("p_EI", x0=eq.x, exact_higher=False)
    scale = params.N_E + params.N_I
    br = continue_equilibria(pr, ContinuationOptions(
        ds=0.005 * scale, ds_max=0.05 * scale, ds_min=1e-8 * scale, p_min=0.3, p_max=1.0,
        max_steps=300, compute_l1=False))
    h = br.points("H")[0]
    x, p, om, q, pa = h.x, h.p, h.data["omega"], h.data["q"], h.data["p_adj"]
    J = pr.dfdx(x, p)
    pf = ODEProblem(pr.f, pr.x0, pr.p0, param=pr.param, param_names=pr.param_names)
    res = {}
    for label, fun in (
            ("Ridders on the analytic Jacobian",
             lambda: first_lyapunov(None, x, J, om, q, pa, forms=pr.directional(x, p))),
            ("Ridders on f alone",
             lambda: first_lyapunov(None, x, J, om, q, pa, forms=pf.directional(x, p))),
            (BEFORE, lambda: first_lyapunov(lambda y: pr.f(y, p), x, J, om, q, pa))):
        cpu = []
        for _ in range(3):
            t = time.process_time()
            val = fun()
            cpu.append(time.process_time() - t)
        res[label] = (val, min(cpu))
    ref = res["Ridders on the analytic Jacobian"][0]
    lines = [f"## Reduced network model (n = {pr.n})", "",
             "Its exact second/third derivatives (Taylor series generated from the sympy "
             "pieces, used by default now) are compared with these routes in "
             "`benchmarks/network_normal_forms.md`. This table: the finite-difference routes "
             "only (`ode_problem(..., exact_higher=False)`). "
             f"the table compares the three routes at the Hopf point p_EI = {h.param:.10g} "
             f"(omega = {om:.6g}). CPU: minimum of 3 runs, same process, machine shared with "
             "other jobs.", "",
             "| route | l1 | digits agreeing with Ridders on the Jacobian | CPU s per l1 |",
             "|---|---|---|---|"]
    for label, (val, cpu) in res.items():
        lines.append(f"| {label} | {val:.10g} | {digits(val, ref):.1f} | {cpu:.3f} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("continuation_accuracy.md")))
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    t0 = time.process_time()
    o = dict(ds=0.01, ds_max=0.05, max_steps=3000)

    # Bautin normal form: l1 = 2 b2 at the Hopf point b1 = 0; GH at (0, 0)
    hs = {}
    for mode, pr in problems(bautin_nf(), [0, 0], [-0.5, -0.6], "b1").items():
        br = continue_equilibria(pr, ContinuationOptions(p_max=0.5, **o))
        hs[mode] = br.points("H")[0]
    row("Bautin NF (b2 = -0.6)", "Hopf b1", 0.0, "analytic", {k: h.param for k, h in hs.items()})
    row("Bautin NF (b2 = -0.6)", "l1", -1.2, "analytic (2 b2)",
        {k: h.data["l1"] for k, h in hs.items()})
    gh = {}
    for mode, pr in problems(bautin_nf(), [0, 0], [-0.5, -0.6], "b1").items():
        br = continue_equilibria(pr, ContinuationOptions(p_max=0.5, **o))
        hc = continue_hopf(br, br.points("H")[0], "b2", ContinuationOptions(
            bounds={"b2": (-2.0, 1.0)}, **o))
        gh[mode] = hc.points("GH")[0]
    row("Bautin NF", "GH b2", 0.0, "analytic", {k: g.params[1] for k, g in gh.items()})

    # BT normal form: (a, b) = (0.7, -1.3) at (0, 0)
    bts = {}
    for mode, pr in problems(bt_nf(), [-1.0, 0.0], [0.0, 1.0], "b1").items():
        br = continue_equilibria(pr, ContinuationOptions(p_min=-2, p_max=2, **o))
        fc = continue_fold(br, br.points("LP")[0], "b2", ContinuationOptions(
            direction=-1, bounds={"b2": (-1.0, 2.0)}, **o))
        bts[mode] = fc.points("BT")[0]
    row("BT NF (a = 0.7, b = -1.3)", "BT b2", 0.0, "analytic",
        {k: b.params[1] for k, b in bts.items()})
    row("BT NF (a = 0.7, b = -1.3)", "BT a", 0.7, "analytic",
        {k: b.data["a"] for k, b in bts.items()})
    row("BT NF (a = 0.7, b = -1.3)", "BT b", -1.3, "analytic",
        {k: b.data["b"] for k, b in bts.items()})

    # cusp normal form (with a slave variable): c = s = -0.8 at (0, 0)
    cps = {}
    for mode, pr in problems(cusp_nf(), [1.0, 1.0], [0.5, 1.0], "b1").items():
        pr.x0 = _equilibrium(pr, pr.x0)
        br = continue_equilibria(pr, ContinuationOptions(p_min=-3, p_max=3, direction=-1, **o))
        fc = continue_fold(br, br.points("LP")[0], "b2", ContinuationOptions(
            direction=-1, bounds={"b2": (-0.5, 2.0)}, **o))
        cps[mode] = fc.points("CP")[0]
    row("cusp NF (c = -0.8)", "CP b2", 0.0, "analytic", {k: c.params[1] for k, c in cps.items()})
    row("cusp NF (c = -0.8)", "CP c", -0.8, "analytic", {k: c.data["c"] for k, c in cps.items()})

    # Wilson-Cowan with steep sigmoids
    for gain in (10.0, 15.0):
        run_hopf_l1(f"Wilson-Cowan (gain {gain:g})", wilson_cowan(), [0.0, 0.0],
                    [-1.0, gain], "P", ContinuationOptions(p_max=1.5, ds=0.01, ds_max=0.02,
                                                           max_steps=3000))
    # Wilson-Cowan Bautin point in (P, gain) on the Hopf curve from gain 10
    m = MPModel(*wilson_cowan())
    ghs = {}
    for mode, pr in problems(wilson_cowan(), [0.0, 0.0], [-1.0, 10.0], "P").items():
        pr.x0 = _equilibrium(pr, pr.x0)
        br = continue_equilibria(pr, ContinuationOptions(p_max=1.5, ds=0.01, ds_max=0.02,
                                                         max_steps=3000))
        hc = continue_hopf(br, br.points("H")[1], "g", ContinuationOptions(
            bounds={"g": (5.0, 20.0)}, ds=0.01, ds_max=0.05, max_steps=3000))
        if hc.points("GH"):
            ghs[mode] = hc.points("GH")[0]
    if "exact" in ghs:
        g = ghs["exact"]
        omega = g.data["omega"]
        q, _ = critical_eigenvectors(ODEProblem.from_sympy(*wilson_cowan(), g.x, g.p).dfdx(
                g.x, g.p), 1j * omega)
        xm, pm, om, qm = mp_hopf(m, g.x, g.p, [0, 1], omega, q,
                                 extra=lambda x_, pp, om_, qq: mp_l1(m, x_, pp, om_, qq))
        row("Wilson-Cowan", "GH P", pm[0], "mpmath findroot (Hopf + l1 = 0)",
            {k: v.params[0] for k, v in ghs.items()})
        row("Wilson-Cowan", "GH gain", pm[1], "mpmath findroot (Hopf + l1 = 0)",
            {k: v.params[1] for k, v in ghs.items()})

    # FitzHugh-Nagumo: trace = 0 at v^2 = 1 - eps b; I = w - v + v^3/3, w = (v + a) / b
    eps, a, b = 0.08, 0.7, 0.8
    v = -math.sqrt(1 - eps * b)
    I_ref = (v + a) / b - v + v**3 / 3
    run_hopf_l1("FitzHugh-Nagumo", fitzhugh_nagumo(), [-1.2, -0.6], [0.0, eps, a, b], "I",
                ContinuationOptions(p_max=2.0, **o), ref_param=I_ref,
                ref_how="analytic (trace J = 0)")
    # Morris-Lecar (Rinzel-Ermentrout Hopf set)
    run_hopf_l1("Morris-Lecar", morris_lecar(), [-60.0, 0.01], [0.0], "I",
                ContinuationOptions(p_max=300.0, ds=0.5, ds_max=2.0, max_steps=3000))
    # Brusselator: Hopf at B = 1 + A^2
    run_hopf_l1("Brusselator (A = 1.5)", brusselator(), [1.5, 1.0 / 1.5], [1.5, 1.0], "B",
                ContinuationOptions(p_max=5.0, **o), ref_param=1 + 1.5**2,
                ref_how="analytic (1 + A^2)")

    # Lorenz-84 (a = 0.25, b = 4): Hopf in F at G = 0.25, then ZH on the Hopf curve
    hs = run_hopf_l1("Lorenz-84 (G = 0.25)", lorenz84(), [0, 0, 0], [0, 0.25, 0.25, 4.0], "F",
                     ContinuationOptions(p_max=3.0, **o))
    m = MPModel(*lorenz84())
    zhs, cps = {}, {}
    for mode, pr in problems(lorenz84(), [0, 0, 0], [0, 0.25, 0.25, 4.0], "F").items():
        br = continue_equilibria(pr, ContinuationOptions(p_max=3.0, **o))
        hc = continue_hopf(br, br.points("H")[0], "G", ContinuationOptions(
            p_min=-1, p_max=4, bounds={"G": (-1, 3)}, **o))
        assert not hc.points("GH"), "Lorenz-84: a false Bautin label"
        zhs[mode] = hc.points("ZH")[0]
        z = zhs[mode]
        p0 = z.p.copy()
        p0[1] -= 0.02
        pr2 = ODEProblem(pr.f, z.x, p0, param="F", dfdx=pr.dfdx, dfdp=pr.dfdp, d2f=pr.d2f,
                         d3f=pr.d3f, param_names=pr.param_names)
        br2 = continue_equilibria(pr2, ContinuationOptions(direction=-1, p_min=0, p_max=3,
                                                           **o))
        fc = continue_fold(br2, br2.points("LP")[0], "G", ContinuationOptions(
            direction=-1, p_min=-1, p_max=4, bounds={"G": (-1, 3)}, **o))
        cps[mode] = fc.points("CP")[0]
    z = zhs["exact"]
    J = ODEProblem.from_sympy(*lorenz84(), z.x, z.p).dfdx(z.x, z.p)
    w_, V_ = np.linalg.eig(J)
    q1 = V_[:, int(np.argmax(w_.imag))]
    (F_, G_), om, g200, g011, theta = mp_zh(m, z.x, z.p, [0, 1], z.data["omega"], q1)
    row("Lorenz-84", "ZH F", F_, "mpmath findroot", {k: v.params[0] for k, v in zhs.items()})
    row("Lorenz-84", "ZH G", G_, "mpmath findroot", {k: v.params[1] for k, v in zhs.items()})
    row("Lorenz-84", "ZH omega", om, "mpmath findroot",
        {k: v.data["omega"] for k, v in zhs.items()})
    row("Lorenz-84", "ZH g200", g200, "Kuznetsov 8.5, mpmath",
        {k: v.data["g200"] for k, v in zhs.items()})
    row("Lorenz-84", "ZH g011", g011, "Kuznetsov 8.5, mpmath",
        {k: v.data["g011"] for k, v in zhs.items()})
    row("Lorenz-84", "ZH theta", theta, "Kuznetsov 8.5, mpmath",
        {k: v.data["theta"] for k, v in zhs.items()})
    c = cps["exact"]
    Jc = ODEProblem.from_sympy(*lorenz84(), c.x, c.p).dfdx(c.x, c.p)
    w_, V_ = np.linalg.eig(Jc)
    qc = np.real(V_[:, int(np.argmin(np.abs(w_)))])
    (F_, G_), cc = mp_cusp(m, c.x, c.p, [0, 1], qc)
    row("Lorenz-84", "CP F", F_, "mpmath findroot", {k: v.params[0] for k, v in cps.items()})
    row("Lorenz-84", "CP G", G_, "mpmath findroot", {k: v.params[1] for k, v in cps.items()})
    row("Lorenz-84", "CP c", cc, "Kuznetsov 8.2, mpmath", {k: v.data["c"] for k, v in cps.items()})

    cpu = time.process_time() - t0
    lines = [
        "# Continuation accuracy: located points and normal-form coefficients",
        "",
        f"Made by `benchmarks/bench_continuation_accuracy.py` at commit {commit} "
        f"(CPU {cpu:.0f} s for the table below). Each model is run with exact derivatives "
        "(`ODEProblem.from_sympy`: mode *exact*) and with f alone (Ridders finite "
        "differences of f: mode *finite-difference*). References: *analytic* where the "
        "answer is written into the model or known in closed form; otherwise an independent "
        "40-digit mpmath computation (point by `mpmath.findroot` on its defining equations, "
        "coefficient by the same invariant formula in 40-digit arithmetic with sympy's "
        "derivatives). digits = -log10(relative error) (absolute where the reference is 0), "
        "capped at 16.",
        "",
        "| problem | quantity | reference | how obtained | derivatives | engine | digits |",
        "|---|---|---|---|---|---|---|",
    ]
    for prob, qty, ref, how, mode, val, dig in ROWS:
        lines.append(f"| {prob} | {qty} | {ref:.15g} | {how} | {mode} | {val:.15g} | "
                     f"{dig:.1f} |")
    modes = ("exact", "finite-difference", BEFORE)
    worst = {md: min(r[6] for r in ROWS if r[4] == md) for md in modes}
    lines += ["", "Fewest digits per mode: " + ", ".join(f"{md} {worst[md]:.1f}"
                                                         for md in modes) + ".",
              "", f"*{BEFORE}*: the l1 formula with the fixed-step fourth-order differences "
              "of f the engine used before (steps eps^(1/6), eps^(1/7) times max(1, |x|/sqrt n))"
              ", evaluated at the exactly located Hopf point: the gain from Ridders' "
              "extrapolation alone.", ""]
    lines += network_section()
    text = "\n".join(lines)
    # keep the section written by bench_cycle_codim2_accuracy.py
    old = Path(args.out).read_text() if Path(args.out).exists() else ""
    marker = "## Cycle curves and double Hopf"
    if marker in old:
        text = text.rstrip("\n") + "\n\n" + marker + old.split(marker, 1)[1]
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
