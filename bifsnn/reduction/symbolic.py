"""Symbolic derivation (sympy) of the scalar pieces of the reduced model, printed as numba code.

Every formula of docs/MODEL.md sections 2-5 that enters the map or the ODE is written here once, as
a sympy expression; its partial derivatives are taken by sympy and the values and derivatives
are printed (after common-subexpression elimination) as ``numba.njit`` functions.  The fixed
assembly loops (``_template_src.py``) call these functions; :func:`generated_source` glues
both into one module that :mod:`bifsnn.reduction.codegen` writes to the cache directory.

Pieces (each a function returning a tuple):

* ``bin_mean(n, A, mid, delta)`` -> Vbar and its derivatives in n and A (regularised mean
  ``mid + (A - n mid) n / (n^2 + delta^2)``; ``delta = 0`` gives A / n);
* ``within_bin(Vbar, lo, dv, eps, hmin)`` -> support [a, b] of the within-bin uniform density
  and da/dVbar, db/dVbar, for the chosen rule ("reference" or "smooth");
* ``drift(V, mE, vE, mI, vI, <params>, col)`` -> mu, sigma and their derivatives (section 3;
  ``col`` = 1 the coloured-noise variance of the closures "coloured", "conditional-coloured");
* ``drift_dp(...)`` -> derivatives of mu and sigma in the network parameters;
* ``kcore(x, a, b, mu, sig, al, be, PA, pA, PB, pB)`` -> F(x), M1(x) (section 4), with the
  normal cdf / pdf at al, be passed in (computed once per edge by ``norm_cdf_pdf``:
  branch-free polynomials, :func:`normal_poly`, a piecewise polynomial table,
  :func:`normal_table`, or libm ``erfc``/``exp`` as reference);
* ``kcore_grad(...)`` -> F, M1 and their derivatives in (a, b, mu, sig); ``kcore_rho`` and
  ``kcore_rho_grad`` the same plus the density rho(x) = dF/dx and its derivatives (for the
  conditional closure);
* ``moment_rhs(m, v, f, p, tau)`` -> the two moment equations of section 2 and all their
  partial derivatives;
* ``cond_mean``, ``disp_term``, ``wplus``, ``stein``: the conditional closure (see
  :func:`_conditional`);
* ``within_bin_slope``, ``kslope``, ``kslope_grad``: the sloped within-bin density of the
  "slope" closures; ``kslope_rho``, ``kslope_rho_grad`` the same plus its density rho(x) =
  dF/dx and rho's derivatives (closure "conditional-slope"; see :func:`_slope`).
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from bifsnn.reduction.model import BIN_RULES

__all__ = ["GENERATOR_VERSION", "generated_functions", "piece_expressions", "BIN_RULES",
           "normal_table", "NORMAL_TABLE_SPEC", "normal_poly", "NORMAL_POLY_SPEC",
           "NORMAL_KINDS", "DEFAULT_NORMAL"]

#: Bump when the generated code changes meaning (it is part of the cache key).
GENERATOR_VERSION = "10"

#: Piecewise polynomial table of the standard normal cdf Phi and pdf phi (kind "table", the
#: transfer kernel's default before "poly"): pieces of width ``width`` covering [-t_max, 0]
#: (t > 0 by symmetry), each a polynomial of degree ``degree`` in u in [-1, 1] interpolating at the
#: Chebyshev points (exact values from mpmath); beyond t_max, Phi = 0 or 1 and phi = 0
#: (Phi(-9) = 1.1e-19, phi(9) = 1.0e-18).  Measured error (tests/reduction/test_kernel.py):
#: <= 1.2e-16 absolute, <= 1e-13 relative on [-9, 9] (libm erfc/exp: 1.1e-16, 1.1e-14);
#: 144 pieces x 9 coefficients x 2 = 20 kB.  Width 1/8 with degree 11 reaches 1e-15 relative
#: but costs 7 % more right-hand-side time (degree 10: 3e-14, +5 %).
NORMAL_TABLE_SPEC = {"t_max": 9.0, "width": 0.0625, "degree": 8}

#: Branch-free normal cdf / pdf of the default kernel ("poly", :func:`normal_poly`): for
#: x = min(|t|, t_max), phi(t) = exp(-x^2 / 2) / sqrt(2 pi) with exp by Cody-Waite reduction
#: to r in [-ln 2 / 2, ln 2 / 2] (polynomial of degree ``deg_exp``, 2^k from its bits) and
#: Phi(-x) = phi(x) R(x), R the Mills ratio, a polynomial of degree ``deg_mills`` in
#: y = (x - k_mills) / (x + k_mills); Phi(t) = 1 - Phi(-t) for t > 0; beyond t_max, 0 or 1
#: and 0 as the table.  Only arithmetic (FMA, one division, no table index), so a loop over
#: many edges is vectorised (SIMD).  Measured error (tests/reduction/test_kernel.py):
#: <= 3.4e-16 absolute, <= 2e-15 relative on [-9, 9] (table 1.2e-16, 1e-13).
NORMAL_POLY_SPEC = {"t_max": 9.0, "k_mills": 4.0, "deg_mills": 18, "deg_exp": 11}

#: Minimum width of the reference rule's uniform density when Vbar sits on an edge.
REFERENCE_MIN_WIDTH = 1e-4


class Phi(sp.Function):
    """Standard normal cdf (kept unevaluated so that derivatives stay compact)."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """d Phi / dt = phi (the standard normal pdf)."""
        return phi(self.args[0])


class phi(sp.Function):  # noqa: N801 - mathematical notation
    """Standard normal pdf."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        """d phi / dt = -t phi(t)."""
        t = self.args[0]
        return -t * phi(t)


class _Printer(PythonCodePrinter):
    """Python printer emitting ``math.*`` calls that numba compiles natively."""

    def _print_Pow(self, expr, rational=False):  # noqa: ANN001
        base, exp = expr.as_base_exp()
        if exp.is_Integer and 1 < int(exp) <= 4:
            b = self.parenthesize(base, 100)
            return "(" + "*".join([b] * int(exp)) + ")"
        if exp.is_Integer and -4 <= int(exp) < 0:
            b = self.parenthesize(base, 100)
            return "1.0/(" + "*".join([b] * (-int(exp))) + ")"
        return super()._print_Pow(expr, rational=rational)


#: When a dict, :func:`_function_source` also records every piece's (args, outputs) in it
#: (see :func:`piece_expressions`; the exact higher derivatives of ``reduction.taylor`` are
#: generated from these expressions).
_RECORD: dict | None = None


def piece_expressions(rule: str) -> dict[str, tuple[list[sp.Symbol], list[sp.Expr]]]:
    """The sympy expressions of every generated piece for within-bin rule ``rule``:
    ``{name: (args, outputs)}``, exactly those printed by :func:`generated_functions`."""
    global _RECORD
    _RECORD = {}
    try:
        generated_functions(rule)
        return _RECORD
    finally:
        _RECORD = None


def _function_source(name: str, args: list[sp.Symbol], outputs: list[sp.Expr]) -> str:
    """Print ``outputs`` (after CSE) as one njit function returning a tuple (while
    :func:`piece_expressions` records, only the record: its CSE, most of the cost of
    generating the module, would be thrown away)."""
    if _RECORD is not None:
        _RECORD[name] = (list(args), list(outputs))
        return ""
    printer = _Printer({"standard": "python3", "fully_qualified_modules": True})
    reps, reduced = sp.cse(outputs, symbols=sp.numbered_symbols("_t"), optimizations="basic")
    lines = [
        "@nb.njit(cache=True, error_model='numpy')",
        f"def {name}({', '.join(str(a) for a in args)}):",
    ]
    for sym, expr in reps:
        lines.append(f"    {sym} = {printer.doprint(expr)}")
    outs = ", ".join(f"float({printer.doprint(e)})" for e in reduced)
    lines.append(f"    return ({outs},)")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- pieces
def _bin_mean() -> str:
    n, A, mid, delta = sp.symbols("n A mid delta", real=True)
    vbar = mid + (A - n * mid) * n / (n**2 + delta**2)
    return _function_source(
        "bin_mean_raw", [n, A, mid, delta], [vbar, sp.diff(vbar, n), sp.diff(vbar, A)]
    )


def _support(rule: str, V: sp.Symbol, lo: sp.Symbol, dv: sp.Symbol, eps: sp.Symbol,
             hmin: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Support [a, b] of the within-bin uniform density of mean V for rule ``rule``."""
    hi = lo + dv
    mid = lo + dv / 2
    if rule == "smooth":
        # Uniform density centred on Vbar with half-width
        # hw = (dv/2) sqrt( ((1 - s^2) / (1 + sqrt(s^2 + eps^2)))^2 + hmin^2 ),
        # s = (Vbar - mid)/(dv/2).  eps, hmin -> 0 gives hw = (dv/2)(1 - |s|): the reference
        # rule (the widest uniform density inside the bin touching the nearer edge).
        s = (V - mid) / (dv / 2)
        hw = (dv / 2) * sp.sqrt(((1 - s**2) / (1 + sp.sqrt(s**2 + eps**2))) ** 2 + hmin**2)
        return V - hw, V + hw
    if rule == "reference":
        # the widest uniform density inside the bin touching the nearer edge, with a tiny
        # fixed width w when Vbar is within w of an edge (the authors' code does this at the
        # lower edge; at the upper edge only for Vbar >= hi, which lets the width reach 0:
        # here it is symmetric so the kernel's 1/(b - a) stays bounded)
        w = sp.Float(REFERENCE_MIN_WIDTH)
        a = sp.Piecewise(
            (lo, V <= mid),
            (hi - w, V > hi - w),
            (2 * V - hi, True),
        )
        b = sp.Piecewise(
            (lo + w, V < lo + w),
            (2 * V - lo, V <= mid),
            (hi, True),
        )
        return a, b
    raise ValueError(f"unknown bin rule {rule!r}")  # pragma: no cover - validated by caller


def _within_bin(rule: str) -> str:
    V, lo, dv, eps, hmin = sp.symbols("V lo dv eps hmin", real=True)
    a, b = _support(rule, V, lo, dv, eps, hmin)
    return _function_source(
        "within_bin", [V, lo, dv, eps, hmin], [a, b, sp.diff(a, V), sp.diff(b, V)]
    )


DRIFT_PARAM_NAMES = ("lam", "SE", "SI", "tauE", "tauI", "Mr", "gl", "h")


def _coloured_factors(mI: sp.Expr, SI: sp.Expr, tauE: sp.Expr, tauI: sp.Expr, M: sp.Expr,
                      Mr: sp.Expr, gl: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(k, g_E, g_I): the effective leak rate k = S_I m_I / (tau_I (M + M_r)) + g_leak and the
    coloured-noise factors g_X = 2 tau_X / (1 + tau_X k) of closure "coloured" (see _drift)."""
    k = SI * mI / (tauI * (M + Mr)) + gl
    return k, 2 * tauE / (1 + tauE * k), 2 * tauI / (1 + tauI * k)


def _regime_weight(mE: sp.Expr, vE: sp.Expr, mI: sp.Expr, vI: sp.Expr, lam: sp.Expr,
                   SE: sp.Expr, SI: sp.Expr, tauE: sp.Expr, tauI: sp.Expr, M: sp.Expr,
                   Mr: sp.Expr, gl: sp.Expr, z0: sp.Expr, cz: sp.Expr | int = 1
                   ) -> sp.Expr:
    """Regime weight Phi(z - z0) of closure "coloured-regime" (MODEL.md 5e): z = (M - V*) /
    s_V, the distance of the threshold above the fixed point V* of the population's mean drift in
    units of the stationary spread of the OU voltage there (see _drift), the spread under the
    coloured input variance (cz = 1, as "coloured-regime") or under the white one of the
    paper's and the conditional closure's transport (cz = 0)."""
    zfl = sp.Float(1e-9)
    k, gcE, gcI = _coloured_factors(mI, SI, tauE, tauI, M, Mr, gl)
    gcE, gcI = 1 + cz * (gcE - 1), 1 + cz * (gcI - 1)
    a_M = lam + SE * mE / tauE - SI * mI / tauI - gl * M  # mean drift at threshold, per ms
    vr_M = lam + gcE * SE**2 * vE / tauE**2 + gcI * SI**2 * vI / tauI**2
    z = -a_M / sp.sqrt(k * vr_M / 2 + zfl**2)
    return sp.erfc(-(z - z0) / sp.sqrt(2)) / 2


def _drift() -> tuple[str, str]:
    V, mE, vE, mI, vI = sp.symbols("V mE vE mI vI", real=True)
    lam, SE, SI, tauE, tauI, M, Mr, gl, h, sfl, col, reg, z0 = sp.symbols(
        "lam SE SI tauE tauI M Mr gl h sfl col reg z0", real=True
    )
    c = (V + Mr) / (M + Mr)  # conductance factor of inhibition
    mu = h * (lam + SE * mE / tauE - SI * mI / tauI * c - gl * V)
    # col = 0: the paper's variance h S^2 v / tau^2 (time in ms).  col = 1: the coloured-noise
    # correction (closure "coloured"): a pending count H with variance v relaxes at rate
    # 1/tau, so the current S H / tau is coloured noise with correlation time tau.  Filtered
    # by the membrane, whose effective leak rate here is k = d(-drift)/dV per ms
    # = S_I m_I / (tau_I (M + M_r)) + g_leak (the conductance of the pending inhibition), it
    # spreads V as white noise of diffusion coefficient 2 tau (S/tau)^2 v / (1 + tau k) per ms
    # would (stationary variance of an OU voltage driven by OU noise); the paper's term has
    # 1 ms in place of 2 tau / (1 + tau k).  Factor 1 + col (2 tau / (1 + tau k) - 1).
    k, gcE, gcI = _coloured_factors(mI, SI, tauE, tauI, M, Mr, gl)
    # reg = 1 (closure "coloured-regime"): the correction weighted by the regime, Phi(z - z0)
    # with z = (M - V*) / s_V the distance of the threshold above the fixed point V* of the
    # mean drift, a(V*) = 0, in units of the stationary spread s_V of the voltage there
    # (a(V) = -k (V - V*) is an OU voltage with diffusion D = var_rate(M) / 2 per ms,
    # s_V^2 = D / k, var_rate with the coloured factors).  z >> 0: fluctuation-driven
    # (inhibition at threshold outweighs the drive, neurons fire on fluctuations of their
    # slowly decaying input: the full correction); z << 0: drift-driven (neurons cross
    # threshold on the mean drive, the paper's white closure).  Phi(z) is the free Gaussian's
    # mass below threshold.  zfl keeps the denominator > 0 when k = 0 (no inhibition: z ->
    # -inf, weight 0).  reg = 0: weight 1 (closure "coloured").
    wgt = 1 - reg + reg * _regime_weight(mE, vE, mI, vI, lam, SE, SI, tauE, tauI, M, Mr, gl,
                                         z0)
    gE = 1 + col * wgt * (gcE - 1)
    gI = 1 + col * wgt * (gcI - 1)
    var = h * (lam + gE * SE**2 * vE / tauE**2 + gI * SI**2 * vI / tauI**2 * c**2)
    sig = sp.sqrt(var + sfl**2)  # smooth floor instead of clipping at 0
    args = [V, mE, vE, mI, vI, lam, SE, SI, tauE, tauI, M, Mr, gl, h, sfl, col, reg, z0]
    values = [
        mu, sig,
        sp.diff(mu, V), sp.diff(sig, V),
        sp.diff(mu, mE), sp.diff(sig, vE),
        sp.diff(mu, mI), sp.diff(sig, vI),
        sp.diff(sig, mI),  # nonzero with col = 1 only (the leak k of the coloured variance)
        sp.diff(sig, mE),  # nonzero with col = reg = 1 only (the regime weight)
    ]
    pars = [lam, SE, SI, tauE, tauI, Mr, gl, h]
    dp = [sp.diff(mu, p) for p in pars] + [sp.diff(sig, p) for p in pars]
    # Two compiled variants behind one dispatcher, so that the closures without the regime
    # weight (reg = 0: sympy drops the erfc) do not pay for it in their hot path; the
    # Taylor pieces (reduction.taylor) use the general expressions recorded as "drift".
    src, src_dp = [], []
    for tag, r in (("white", 0), ("regime", 1)):
        src.append(_function_source(f"drift_{tag}", args, [e.subs(reg, r) for e in values]))
        src_dp.append(_function_source(f"drift_dp_{tag}", args, [e.subs(reg, r) for e in dp]))
    if _RECORD is not None:
        _RECORD["drift"] = (list(args), list(values))
        _RECORD["drift_dp"] = (list(args), list(dp))
    names = ", ".join(str(a) for a in args)
    for name in ("drift", "drift_dp"):
        disp = (
            "@nb.njit(cache=True, error_model='numpy', inline='always')\n"
            f"def {name}({names}):\n"
            f"    if reg == 0.0:\n"
            f"        return {name}_white({names})\n"
            f"    return {name}_regime({names})\n"
        )
        (src if name == "drift" else src_dp).append(disp)
    return "\n\n".join(src), "\n\n".join(src_dp)


def _kernel() -> tuple[str, str]:
    x, a, b, mu, sig = sp.symbols("x a b mu sig", real=True)
    al_s, be_s, PA, pA, PB, pB = sp.symbols("al be PA pA PB pB", real=True)
    al = (x - a - mu) / sig
    be = (x - b - mu) / sig

    def psi(t: sp.Expr) -> sp.Expr:
        return t * Phi(t) + phi(t)

    def psi2(t: sp.Expr) -> sp.Expr:
        return ((t**2 - 1) * Phi(t) + t * phi(t)) / 2

    F = sig / (b - a) * (psi(al) - psi(be))
    M1 = sig / (b - a) * (
        x * (psi(al) - psi(be)) - sig * (psi2(al) - psi2(be)) - sig * (Phi(al) - Phi(be))
    )
    # density of V' at x (= dF/dx = -dF/dmu): the conditional closure's covariance flux
    rho = (Phi(al) - Phi(be)) / (b - a)
    repl = {Phi(al): PA, phi(al): pA, Phi(be): PB, phi(be): pB}

    def finish(e: sp.Expr) -> sp.Expr:
        e = e.xreplace(repl)
        e = e.xreplace({al: al_s, be: be_s})
        return e

    vars_ = [a, b, mu, sig]
    values = [finish(F), finish(M1)]
    grads = [finish(sp.diff(F, v)) for v in vars_] + [finish(sp.diff(M1, v)) for v in vars_]
    args = [x, a, b, mu, sig, al_s, be_s, PA, pA, PB, pB]
    rgrads = [finish(sp.diff(rho, v)) for v in vars_]
    return (
        _function_source("kcore", args, values)
        + "\n\n" + _function_source("kcore_rho", args, values + [finish(rho)]),
        _function_source("kcore_grad", args, values + grads)
        + "\n\n" + _function_source("kcore_rho_grad", args,
                                      values + grads + [finish(rho)] + rgrads),
    )


def _moments() -> str:
    m, v, f, p, tau = sp.symbols("m v f p tau", real=True)
    dm = -m / tau + p * f
    dv = -2 * v / tau + m / tau + p * (1 - p) * f
    outs = [dm, dv]
    for e in (dm, dv):
        outs += [sp.diff(e, s) for s in (m, v, f, p, tau)]
    return _function_source("moment_rhs", [m, v, f, p, tau], outs)


def _conditional() -> str:
    """Pieces of the conditional closure (per-bin conditional means of the pending input).

    * ``cond_mean(n, B, m, delta)``: regularised conditional mean m + (B - n m) n/(n^2 +
      delta^2) of the pending count of the neurons of a bin (B: their total), -> B/n for
      occupied bins and -> the population mean m for empty ones; and d/d(n, B, m);
    * ``disp_term(n, B, m, delta)``: (B - n m)^2 n/(n^2 + delta^2), a compartment's share of
      N times the between-compartment variance of the conditional means; and d/d(n, B, m);
    * ``wplus(w, phi)``: smooth max(w, 0) = (w + sqrt(w^2 + phi^2))/2 and its derivative;
    * ``stein(V, wE, wI, SE, SI, tauE, tauI, M, Mr, h, kappa)``: covariance-flux
      coefficients sX = kappa wX dmu/dH_X (dmu/dH_E = h SE/tauE, dmu/dH_I = -h SI c(V)/tauI),
      and their derivatives in (V, wE, wI) and in (SE, SI, tauE, tauI, Mr, h);
    * ``regime_weight(mE, vE, mI, vI, lam, SE, SI, tauE, tauI, M, Mr, gl, z0, cz)``: the
      regime weight Phi(z - z0) of "coloured-regime" from a population's pending-input moments
      (cz = 1; cz = 0: z from the white input variance), and its derivatives in
      (mE, vE, mI, vI) (closure "conditional-regime" scales the coupling kappa by it).
    """
    n, B, m, delta, w, ph = sp.symbols("n B m delta w phi", real=True)
    H = m + (B - n * m) * n / (n**2 + delta**2)
    G = (B - n * m) ** 2 * n / (n**2 + delta**2)
    wp = (w + sp.sqrt(w**2 + ph**2)) / 2
    V, wE, wI, SE, SI, tauE, tauI, M, Mr, h, kap = sp.symbols(
        "V wE wI SE SI tauE tauI M Mr h kappa", real=True)
    c = (V + Mr) / (M + Mr)
    sE = kap * wE * h * SE / tauE
    sI = -kap * wI * h * SI * c / tauI
    outs = [sE, sI, sp.diff(sI, V), sp.diff(sE, wE), sp.diff(sI, wI)]
    outs += [sp.diff(e, q) for e in (sE, sI) for q in (SE, SI, tauE, tauI, Mr, h)]
    mE, vE, mI, vI, lam, gl, z0, cz = sp.symbols("mE vE mI vI lam gl z0 cz", real=True)
    W = _regime_weight(mE, vE, mI, vI, lam, SE, SI, tauE, tauI, M, Mr, gl, z0, cz)
    return "\n\n".join([
        _function_source("regime_weight",
                         [mE, vE, mI, vI, lam, SE, SI, tauE, tauI, M, Mr, gl, z0, cz],
                         [W] + [sp.diff(W, q) for q in (mE, vE, mI, vI)]),
        _function_source("cond_mean", [n, B, m, delta],
                         [H, sp.diff(H, n), sp.diff(H, B), sp.diff(H, m)]),
        _function_source("disp_term", [n, B, m, delta],
                         [G, sp.diff(G, n), sp.diff(G, B), sp.diff(G, m)]),
        _function_source("wplus", [w, ph], [wp, sp.diff(wp, w)]),
        _function_source("stein", [V, wE, wI, SE, SI, tauE, tauI, M, Mr, h, kap], outs),
    ])


def _slope(rule: str) -> str:
    """Pieces of the sloped within-bin density (closures "slope", "coloured-regime-slope").

    The paper's rule spreads a bin's neurons uniformly over [a0, b0] (``within_bin``, centre
    Vbar, half-width hw0).  The sloped rule gives them the linear density
    (1 + g (2 u - a - b) / (b - a)) / (b - a) on [a, b] = [c - hw, c + hw], shifted to
    c = Vbar - g hw / 3 so that its mean stays Vbar.  The slope is the bin's own: a linear
    density that fills the bin and has mean Vbar has g = 3 s, s = (Vbar - mid) / (dv / 2);
    optionally (kn > 0) plus the density slope of the neighbouring bins, (n_p - n_m) cf / dv^2
    (cf = 1/2 central difference, 1 one-sided at the ends of the grid) relative to the mean
    density n / (2 hw0) (-> 0 for empty bins, regularised with delta).  The sum r is limited
    smoothly to (-1, 1), g = r / (1 + r^8)^(1/8), so that the density stays positive.  The
    half-width keeps the paper's distance from the nearer edge, hw (1 - |g| / 3) = (dv / 2)
    (1 - |s|): T = (1 - |s|) / (1 - |s| ell(3 s)) = 1 - O(s^9) fills the bin while the slope
    is unlimited and shrinks to the nearer edge beyond; floored with hmin as the smooth rule
    is, and blended with hw0 by the slope scale ks: hw = (1 - ks) hw0 + ks (dv / 2)
    sqrt(T^2 + hmin^2).  ks = kn = 0 is the paper's rule exactly.

    * ``within_bin_slope(V, lo, dv, eps, hmin, nm, n0, np_, cf, delta, ks, kn)`` -> a, b, g and
      the derivatives of (a, b, g) in V (= Vbar, with n fixed), nm, n0 (explicit), np_;
    * ``kslope(x, a, b, g, mu, sig, al, be, PA, pA, PB, pB)`` -> F(x) = P(U + xi < x) and
      M1(x) = E[U + xi; U + xi < x] for U with the linear density above and
      xi ~ N(mu, sig^2): with t = (x - u - mu) / sig the density is (c0 + c1 t) / (b - a),
      c0 = 1 + g (2 (x - mu) - a - b) / (b - a), c1 = -2 g sig / (b - a), and
      F = sig / (b - a) [c0 Psi1 + c1 Psi2], M1 = sig / (b - a) [c0 x Psi1 + (c1 x - c0 sig)
      Psi2 - c1 sig Psi3 - c0 sig (Phi(al) - Phi(be)) + c1 sig (phi(al) - phi(be))], Psi_k
      = psi_k(al) - psi_k(be) with the antiderivatives psi1 = t Phi + phi, psi2 =
      ((t^2 - 1) Phi + t phi) / 2, psi3 = (t^3 Phi + (t^2 + 2) phi) / 3 of t^(k-1) Phi;
    * ``kslope_grad(...)`` -> F, M1 and their derivatives in (a, b, g, mu, sig);
    * ``kslope_rho(...)`` -> F, M1 and the density rho(x) = dF/dx = (c0 (Phi(al) - Phi(be))
      - c1 (phi(al) - phi(be))) / (b - a) (the covariance flux of "conditional-slope");
      ``kslope_rho_grad(...)`` -> the values and derivatives of ``kslope_grad``, then rho and
      its derivatives in (a, b, g, mu, sig).
    """
    V, lo, dv, eps, hmin = sp.symbols("V lo dv eps hmin", real=True)
    nm, n0, np_, cf, delta, ks, kn = sp.symbols("nm n0 np_ cf delta ks kn", real=True)
    a0, b0 = _support(rule, V, lo, dv, eps, hmin)
    hw0 = (b0 - a0) / 2
    s = (V - (lo + dv / 2)) / (dv / 2)
    # own mean: a linear density on the whole bin with mean V has slope g = 3 s (positive
    # for |s| <= 1/3); neighbours: the density slope (n_p - n_m) cf / dv^2 relative to the
    # mean density n / (2 hw0); limited smoothly to (-1, 1) (g = r + O(r^9))
    graw = ks * 3 * s + kn * hw0**2 * (np_ - nm) * cf * n0 / (dv**2 * (n0**2 + delta**2))
    g = graw / (1 + graw**8) ** sp.Rational(1, 8)
    # support: the tilted density keeps the paper's distance from the nearer edge,
    # (dv/2) (1 - |s|) = hw (1 - |g|/3), so it fills the bin while the slope is unlimited
    # (|s| <= 1/3: T = 1 up to O(s^9)) and shrinks towards the nearer edge beyond; floored
    # like the smooth rule, and blended with the paper's half-width hw0 by ks (ks = 0, kn = 0:
    # the paper's rule exactly)
    ell = (1 + (3 * s) ** 8) ** sp.Rational(-1, 8)
    T = (1 - sp.Abs(s)) / (1 - sp.Abs(s) * ell)
    hw = (1 - ks) * hw0 + ks * (dv / 2) * sp.sqrt(T**2 + hmin**2)
    c = (a0 + b0) / 2 - g * hw / 3
    a = c - hw
    b = c + hw
    outs = [a, b, g]
    for var in (V, nm, n0, np_):
        outs += [sp.diff(e, var) for e in (a, b, g)]
    src = _function_source("within_bin_slope", [V, lo, dv, eps, hmin, nm, n0, np_, cf, delta,
                                                ks, kn], outs)

    x, aa, bb, gg, mu, sig = sp.symbols("x a b g mu sig", real=True)
    al_s, be_s, PA, pA, PB, pB = sp.symbols("al be PA pA PB pB", real=True)
    al = (x - aa - mu) / sig
    be = (x - bb - mu) / sig
    w = bb - aa

    def psi1(t: sp.Expr) -> sp.Expr:
        return t * Phi(t) + phi(t)

    def psi2(t: sp.Expr) -> sp.Expr:
        return ((t**2 - 1) * Phi(t) + t * phi(t)) / 2

    def psi3(t: sp.Expr) -> sp.Expr:
        return (t**3 * Phi(t) + (t**2 + 2) * phi(t)) / 3

    c0 = 1 + gg * (2 * (x - mu) - aa - bb) / w
    c1 = -2 * gg * sig / w
    P1, P2, P3 = (f(al) - f(be) for f in (psi1, psi2, psi3))
    F = sig / w * (c0 * P1 + c1 * P2)
    M1 = sig / w * (c0 * x * P1 + (c1 * x - c0 * sig) * P2 - c1 * sig * P3
                    - c0 * sig * (Phi(al) - Phi(be)) + c1 * sig * (phi(al) - phi(be)))
    repl = {Phi(al): PA, phi(al): pA, Phi(be): PB, phi(be): pB}

    def finish(e: sp.Expr) -> sp.Expr:
        return e.xreplace(repl).xreplace({al: al_s, be: be_s})

    args = [x, aa, bb, gg, mu, sig, al_s, be_s, PA, pA, PB, pB]
    values = [finish(F), finish(M1)]
    grads = [finish(sp.diff(e, v)) for e in (F, M1) for v in (aa, bb, gg, mu, sig)]
    # density of V' at x for the conditional closures with this density ("conditional-slope"):
    # rho = dF/dx = (c0 (Phi(al) - Phi(be)) - c1 (phi(al) - phi(be))) / (b - a), the linear
    # density convolved with the Gaussian jump (tested against dF/dx)
    rho = (c0 * (Phi(al) - Phi(be)) - c1 * (phi(al) - phi(be))) / w
    rgrads = [finish(sp.diff(rho, v)) for v in (aa, bb, gg, mu, sig)]
    return "\n\n".join([src, _function_source("kslope", args, values),
                         _function_source("kslope_grad", args, values + grads),
                         _function_source("kslope_rho", args, values + [finish(rho)]),
                         _function_source("kslope_rho_grad", args,
                                          values + grads + [finish(rho)] + rgrads)])


def normal_table(t_max: float, width: float, degree: int) -> list[list[tuple[float, float]]]:
    """Monomial coefficients (in u = 2 (t - t_lo)/width - 1, lowest degree first) of the
    interpolants of (Phi, phi) on each piece [t_lo, t_lo + width] of [-t_max, 0]; computed with
    40-digit arithmetic (mpmath) and rounded once to double."""
    import mpmath

    n = int(round(t_max / width))
    if n < 1 or abs(n * width - t_max) > 1e-12 * t_max or degree < 1:
        raise ValueError(f"normal_table: t_max = {t_max} must be a positive multiple of width"
                         f" = {width}, degree = {degree} >= 1")
    with mpmath.workdps(40):
        m = degree + 1
        nodes = [mpmath.cos(mpmath.pi * (2 * i + 1) / (2 * m)) for i in range(m)]
        vinv = mpmath.matrix([[u**j for j in range(m)] for u in nodes]) ** -1
        half = mpmath.mpf(width) / 2
        table = []
        for k in range(n):
            centre = -mpmath.mpf(t_max) + k * mpmath.mpf(width) + half
            cols = []
            for f in (mpmath.ncdf, mpmath.npdf):
                coef = vinv * mpmath.matrix([f(centre + u * half) for u in nodes])
                cols.append([float(coef[j]) for j in range(m)])
            table.append(list(zip(cols[0], cols[1], strict=True)))
    return table


def _chebyshev_monomials(f, lo, hi, degree: int) -> list:
    """Monomial coefficients (in u in [-1, 1], u = (2 z - lo - hi) / (hi - lo), lowest degree
    first) of the interpolant of f at the degree + 1 Chebyshev points of [lo, hi] (mpmath)."""
    import mpmath

    m = degree + 1
    nodes = [mpmath.cos(mpmath.pi * (2 * i + 1) / (2 * m)) for i in range(m)]
    vinv = mpmath.matrix([[u**j for j in range(m)] for u in nodes]) ** -1
    coef = vinv * mpmath.matrix([f((lo + hi) / 2 + u * (hi - lo) / 2) for u in nodes])
    return [coef[j] for j in range(m)]


def normal_poly(t_max: float, k_mills: float, deg_mills: int,
                deg_exp: int) -> tuple[list[float], list[float], float, float]:
    """Coefficients of the branch-free normal cdf / pdf (see :data:`NORMAL_POLY_SPEC`):
    (e, r, y_mid, y_scale) with exp(z) / sqrt(2 pi) = sum e_i z^i on |z| <= ln 2 / 2 and the
    Mills ratio Phi(-x) / phi(x) = sum r_i u^i, u = (y - y_mid) y_scale, y = (x - k) / (x + k),
    x in [0, t_max]; Chebyshev interpolants computed with 40-digit arithmetic (mpmath)."""
    import mpmath

    if not (t_max > 0 and k_mills > 0 and deg_mills >= 1 and deg_exp >= 1):
        raise ValueError(f"normal_poly: t_max = {t_max}, k_mills = {k_mills} must be > 0 and"
                         f" deg_mills = {deg_mills}, deg_exp = {deg_exp} >= 1")
    with mpmath.workdps(40):
        half = mpmath.log(2) / 2
        e = _chebyshev_monomials(lambda z: mpmath.npdf(0) * mpmath.exp(z), -half, half, deg_exp)
        e = [float(c / half**i) for i, c in enumerate(e)]
        k = mpmath.mpf(k_mills)
        y_hi = (t_max - k) / (t_max + k)

        def mills(y):
            x = k * (1 + y) / (1 - y)
            return mpmath.ncdf(-x) / mpmath.npdf(x)

        r = [float(c) for c in _chebyshev_monomials(mills, mpmath.mpf(-1), y_hi, deg_mills)]
        return e, r, float((y_hi - 1) / 2), float(2 / (y_hi + 1))


def _estrin2(out: str, var: str, coefs: list[str]) -> list[str]:
    """Lines evaluating sum coefs[i] var^i as two interleaved Horner chains in var^2 (half
    the dependency chain of Horner), with the FMA intrinsic ``_fma``."""
    n = len(coefs) - 1
    even, odd = coefs[0::2], coefs[1::2]
    lines = [f"    {var}2 = {var} * {var}", f"    {out}e = {even[-1]}", f"    {out}o = {odd[-1]}"]
    for c in even[-2::-1]:
        lines.append(f"    {out}e = _fma({out}e, {var}2, {c})")
    for c in odd[-2::-1]:
        lines.append(f"    {out}o = _fma({out}o, {var}2, {c})")
    lines.append(f"    {out} = _fma({out}o, {var}, {out}e)" if n >= 1 else f"    {out} = {out}e")
    return lines


_NORMAL_POLY_HEAD = '''
from llvmlite import ir as _ir
from numba.extending import intrinsic as _intrinsic


@_intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma), whatever the caller's fastmath flags."""
    sig = nb.types.float64(nb.types.float64, nb.types.float64, nb.types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return sig, codegen


@_intrinsic
def _bits_to_float(typingctx, i):
    """The float64 whose bit pattern is the int64 i (2^k from (k + 1023) << 52)."""
    sig = nb.types.float64(nb.types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _ir.DoubleType())
    return sig, codegen


@nb.njit(cache=True, error_model='numpy', inline='always')
def norm_cdf_pdf(t):
    """(Phi(t), phi(t)), the standard normal cdf and pdf, branch-free (symbolic.normal_poly;
    inlined, so loops over many arguments are vectorised): phi = exp(-x^2 / 2) / sqrt(2 pi),
    Phi(-x) = phi R(x) with the Mills ratio R, x = min(|t|, _NP_TMAX); Phi(t) = 1 - Phi(-t)
    for t > 0; beyond _NP_TMAX 0 or 1 and 0; NaN gives NaN."""
    x = abs(t)
    xc = min(x, _NP_TMAX)
    z = -0.5 * xc * xc
    k = np.floor(_fma(z, 1.4426950408889634, 0.5))
    r = _fma(-k, 1.9082149292705877e-10, _fma(-k, 0.6931471803691238, z))
'''

_NORMAL_POLY_TAIL = '''
    p = e * _bits_to_float((np.int64(k) + 1023) << 52)
    y = (xc - _NP_K) / (xc + _NP_K)
    u = (y - _NP_YMID) * _NP_YSCALE
'''

_NORMAL_POLY_END = '''
    P = p * R
    if x > _NP_TMAX:
        P = 0.0
        p = 0.0
    if t > 0.0:
        P = 1.0 - P
    return P, p
'''


def _normal_poly_source() -> str:
    """``norm_cdf_pdf`` of the default kernel: :func:`normal_poly`'s coefficients as
    constants of the generated module and their branch-free evaluation."""
    spec = NORMAL_POLY_SPEC
    e, r, y_mid, y_scale = normal_poly(**spec)
    consts = ([f"_NP_E{i} = {c!r}" for i, c in enumerate(e)]
              + [f"_NP_R{i} = {c!r}" for i, c in enumerate(r)])
    return (
        "# ---- branch-free normal cdf / pdf (symbolic.normal_poly) ----\n"
        f"_NP_TMAX = {float(spec['t_max'])!r}\n"
        f"_NP_K = {float(spec['k_mills'])!r}\n"
        f"_NP_YMID = {y_mid!r}\n"
        f"_NP_YSCALE = {y_scale!r}\n"
        + "\n".join(consts) + "\n"
        + _NORMAL_POLY_HEAD
        + "\n".join(_estrin2("e", "r", [f"_NP_E{i}" for i in range(len(e))]))
        + _NORMAL_POLY_TAIL
        + "\n".join(_estrin2("R", "u", [f"_NP_R{i}" for i in range(len(r))]))
        + _NORMAL_POLY_END
    )


_NORMAL_TABLE_FUNCTION = '''
@nb.njit(cache=True, error_model='numpy', fastmath={'contract'})
def norm_cdf_pdf(t):
    """(Phi(t), phi(t)), the standard normal cdf and pdf, from the piecewise polynomial
    table ``_NTAB`` (symbolic.normal_table; no transcendental call): the piece of -|t| in
    [-_NT_TMAX, 0], Horner in u in [-1, 1]; Phi(t) = 1 - Phi(-t) for t > 0."""
    s = -abs(t)
    if s < -_NT_TMAX:
        return (0.0, 0.0) if t < 0.0 else (1.0, 0.0)
    if s != s:  # NaN: no table row (int(NaN) is undefined)
        return s, s
    z = (s + _NT_TMAX) * _NT_INV_W
    k = int(z)
    if k >= _NT_N:
        k = _NT_N - 1
    u = 2.0 * (z - k) - 1.0
    P = _NTAB[k, _NT_DEG, 0]
    p = _NTAB[k, _NT_DEG, 1]
    for i in range(_NT_DEG - 1, -1, -1):
        P = P * u + _NTAB[k, i, 0]
        p = p * u + _NTAB[k, i, 1]
    if t > 0.0:
        P = 1.0 - P
    return P, p
'''

_NORMAL_LIBM_FUNCTION = '''
@nb.njit(cache=True, error_model='numpy')
def norm_cdf_pdf(t):
    """(Phi(t), phi(t)) with libm erfc and exp (the reference for the table)."""
    return 0.5 * math.erfc(-t * 0.7071067811865476), 0.3989422804014327 * math.exp(-0.5 * t * t)
'''

#: Evaluations of the normal cdf / pdf in the transfer kernel (``normal`` of
#: :func:`generated_functions`): "poly" (default, branch-free, vectorised over edges),
#: "table" (the former default, scalar) or "libm" (erfc / exp, reference).
NORMAL_KINDS = ("poly", "table", "libm")
DEFAULT_NORMAL = "poly"


def _normal_source(normal: str) -> str:
    """``norm_cdf_pdf(t)`` for the transfer kernel: the table of :func:`normal_table` as
    constants of the generated module plus its evaluation, or the libm reference."""
    if normal == "libm":
        return _NORMAL_LIBM_FUNCTION
    if normal == "poly":
        return _normal_poly_source()
    if normal != "table":
        raise ValueError(f"normal = {normal!r} is out of range: must be one of {NORMAL_KINDS}")
    spec = NORMAL_TABLE_SPEC
    table = normal_table(spec["t_max"], spec["width"], spec["degree"])
    rows = ",\n".join(
        "    [" + ", ".join(f"({P!r}, {p!r})" for P, p in piece) + "]" for piece in table)
    return (
        "# ---- piecewise polynomial table of the normal cdf / pdf (symbolic.normal_table) ----\n"
        f"_NT_TMAX = {float(spec['t_max'])!r}\n"
        f"_NT_INV_W = {1.0 / spec['width']!r}\n"
        f"_NT_N = {len(table)}\n"
        f"_NT_DEG = {int(spec['degree'])}\n"
        f"_NTAB = np.array([\n{rows}\n])\n"
        + _NORMAL_TABLE_FUNCTION
    )


def generated_functions(rule: str, normal: str = DEFAULT_NORMAL) -> str:
    """Source text of all sympy-generated scalar functions for within-bin rule ``rule``, and
    the kernel's normal cdf / pdf evaluation ``normal`` (one of :data:`NORMAL_KINDS`)."""
    if rule not in BIN_RULES:
        raise ValueError(f"bin_rule = {rule!r} is not one of {BIN_RULES}")
    drift, drift_dp = _drift()
    kcore, kcore_grad = _kernel()
    parts = [
        _normal_source(normal) if _RECORD is None else "",  # numbers, no expressions
        _bin_mean(),
        _within_bin(rule),
        drift,
        drift_dp,
        kcore,
        kcore_grad,
        _moments(),
        _conditional(),
        _slope(rule),
    ]
    return "\n\n".join(parts)
