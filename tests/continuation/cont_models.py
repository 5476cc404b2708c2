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


#: Parameters of :func:`cycle_product` (and their defaults).
CYCLE_PRODUCT_PARAMS = {"mu": 0.3, "b": 1.0, "e": 0.0, "nu": 0.3, "W": 0.12, "c": 0.5,
                        "d": 0.2, "alpha": -0.5, "gamma": 0.4, "kappa": 0.5, "c0": 0.2}


def cycle_product(parts: tuple[str, ...] = ("ns",), param: str = "mu", **values) -> ODEProblem:
    """Cycles with every multiplier known in closed form (sympy, exact derivatives).

    z1 = (x1, y1): r' = r g(rho), theta' = 1 with rho = r^2, g = mu + b rho + e rho^2 - rho^3:
    cycles rho(mu, b, e) with g(rho) = 0, period 2 pi, radial multiplier exp(4 pi rho g'(rho)),
    folds of cycles (LPC) where g' = 0, cusps of cycles (CPC) where also g'' = 0.
    Part "ns", z2 = (x2, y2): z2' = (nu - c rho - |z2|^2 + i (W + d rho)) z2: multipliers
    exp(2 pi (nu - c rho)) exp(+-2 pi i (W + d rho)), NS where nu = c rho, theta = 2 pi (W +
    d rho).  Part "pd", y = (u, v): y' = alpha y + gamma S(z1) y + J y / 2 - |y|^2 y with
    S(z1) = [[x1, y1], [y1, -x1]], J the rotation generator: in the frame turning by half the
    cycle's phase y has the multipliers -exp(2 pi (alpha +- gamma r)) (a Moebius band): PD
    where alpha + gamma sqrt(rho) = 0.  Part "r2", y = (u, v): y' = alpha y + kappa K(z1) y +
    (1/2 + c0) J y - |y|^2 y with K(z1) = [[-y1, x1], [x1, y1]]: multipliers
    -exp(2 pi (alpha +- sqrt(kappa^2 rho - c0^2))), a Jordan block -1 (1:2 resonance R2) at
    alpha = 0, kappa^2 rho = c0^2, complex (NS at alpha = 0) for kappa^2 rho < c0^2.
    The cycle is z1 = sqrt(rho) (cos t, sin t), the other
    parts zero.  Parameters: :data:`CYCLE_PRODUCT_PARAMS` (keywords override them)."""
    import sympy

    unknown = set(values) - set(CYCLE_PRODUCT_PARAMS)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    pv = {**CYCLE_PRODUCT_PARAMS, **values}
    names = list(CYCLE_PRODUCT_PARAMS)
    P = {k: sympy.Symbol(k) for k in names}
    x1, y1 = sympy.symbols("x1 y1")
    rho = x1**2 + y1**2
    g = P["mu"] + P["b"] * rho + P["e"] * rho**2 - rho**3
    states = [x1, y1]
    f = [g * x1 - y1, x1 + g * y1]
    if "ns" in parts:
        x2, y2 = sympy.symbols("x2 y2")
        a = P["nu"] - P["c"] * rho - (x2**2 + y2**2)
        om = P["W"] + P["d"] * rho
        states += [x2, y2]
        f += [a * x2 - om * y2, om * x2 + a * y2]
    if "pd" in parts:
        u, v = sympy.symbols("u v")
        s = P["alpha"] - (u**2 + v**2)
        states += [u, v]
        f += [s * u + P["gamma"] * (x1 * u + y1 * v) - v / 2,
              s * v + P["gamma"] * (y1 * u - x1 * v) + u / 2]
    if "r2" in parts:
        u, v = sympy.symbols("u v")
        s = P["alpha"] - (u**2 + v**2)
        w = sympy.Rational(1, 2) + P["c0"]
        states += [u, v]
        f += [s * u + P["kappa"] * (-y1 * u + x1 * v) - w * v,
              s * v + P["kappa"] * (x1 * u + y1 * v) + w * u]
    return ODEProblem.from_sympy(f, states, [P[k] for k in names], [0.0] * len(states),
                                 [pv[k] for k in names], param=param)


def cycle_product_rho(mu: float, b: float = 1.0, e: float = 0.0, outer: bool = True) -> float:
    """The largest (``outer``) or smallest positive root rho of g(rho) = 0 (see
    :func:`cycle_product`)."""
    roots = np.roots([-1.0, e, b, mu])
    real = np.sort(roots[(np.abs(roots.imag) < 1e-9) & (roots.real > 0)].real)
    return float(real[-1] if outer else real[0])


def cycle_product_start(problem: ODEProblem, rho: float, ntst: int = 20):
    """The cycle of :func:`cycle_product` with z1 on r^2 = rho, corrected by collocation."""
    from bifsnn.continuation.periodic import cycle_system, solve_cycle, uniform_mesh
    from bifsnn.continuation.periodic.mesh import node_times

    sysobj = cycle_system(problem, problem.p0, problem.param)
    tm = uniform_mesh(ntst)
    t = node_times(tm, 4)
    U = np.zeros((t.size, problem.n))
    U[:, 0], U[:, 1] = np.sqrt(rho) * np.cos(2 * np.pi * t), np.sqrt(rho) * np.sin(2 * np.pi * t)
    sol = solve_cycle(sysobj, tm, U, 2 * np.pi, float(problem.p0[problem.param]), 4, adapt=0)
    if not sol.success:
        raise RuntimeError(sol.message)
    return sol


def bautin_problem(p0: tuple[float, float] = (-0.5, -1.0)) -> ODEProblem:
    """Bautin normal form z' = (b1 + i) z + b2 z |z|^2 - z |z|^4 in real coordinates."""
    def f(z, p):
        r2 = z[0] ** 2 + z[1] ** 2
        g = p[0] + p[1] * r2 - r2 ** 2
        return np.array([g * z[0] - z[1], z[0] + g * z[1]])
    return ODEProblem(f, [0.0, 0.0], list(p0), param_names=("b1", "b2"))
