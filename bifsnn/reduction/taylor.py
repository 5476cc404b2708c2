"""Exact higher derivatives of the reduced ODE: truncated Taylor series generated from sympy.

The second and third directional derivatives ``D^2 f(x)[u, v]`` and ``D^3 f(x)[u, v, w]``
that the normal-form coefficients need (first and second Lyapunov coefficients, BT, cusp)
are computed without finite differences, by propagating the truncated Taylor series of
``t -> f(x + t v)`` to order 3 through the model (univariate Taylor arithmetic, as in
Griewank & Walther, *Evaluating Derivatives*, ch. 13): ``f(x + t v) = c0 + c1 t + c2 t^2 +
c3 t^3 + O(t^4)`` gives ``D^2 f[v, v] = 2 c2`` and ``D^3 f[v, v, v] = 6 c3``, and the
multilinear forms follow by polarisation (two series for ``D^2 f[u, v]``, four for
``D^3 f[u, v, w]``).  Everything is exact up to rounding.

Two halves, as for the right-hand side itself (Brian2 style, the printer apart from the
template):

* the *printer* (this module): every scalar piece that ``bifsnn.reduction.symbolic`` prints
  (whatever pieces the model has: they are taken from
  :func:`~bifsnn.reduction.symbolic.piece_expressions`, not written again here) is turned
  into a Taylor piece: a function of the Taylor coefficients of its active inputs returning
  the Taylor coefficients of its outputs (:func:`taylor_function_source`: sympy substitutes
  ``y -> y0 + y1 t + y2 t^2 + y3 t^3`` and differentiates in t; normal cdf/pdf values passed
  in as inputs are tied to their arguments so that their derivatives are exact too);
* the *template* (``_taylor_template_src.py``): the assembly loops of the model in Taylor
  arithmetic (products and sums of series), calling the Taylor pieces.

:func:`bifsnn.reduction.codegen.load_taylor` writes both into one module in the cache
directory (key: generator, template, rule) and imports it.  Closures whose assembly the
template covers are listed in :data:`TAYLOR_CLOSURES`; for the others the problem keeps
Ridders' finite differences (and says so in ``ODEProblem.derivatives``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy as sp

__all__ = ["ORDER", "TAYLOR_CLOSURES", "TAYLOR_PIECES", "SeriesDerivatives",
           "taylor_function_source", "taylor_functions"]

#: Order of the Taylor series (3: second and third derivatives).
ORDER = 3
#: Closures whose assembly loops exist in Taylor form (``_taylor_template_src.py``).
TAYLOR_CLOSURES = ("paper", "coloured", "coloured-regime")

#: Taylor pieces the template calls: piece -> (active inputs, outputs kept, implicit inputs).
#: Implicit inputs are values of functions of active inputs passed in by the template (the
#: normal cdf ``Phi`` and pdf ``phi`` at the kernel's arguments ``al``, ``be``); they are tied
#: to their arguments here so that the series of ``Phi(al(t))`` is exact.
TAYLOR_PIECES: dict[str, tuple[tuple[str, ...], tuple[int, ...], dict[str, tuple[str, str]]]] = {
    "bin_mean_raw": (("n", "A"), (0,), {}),
    "within_bin": (("V",), (0, 1), {}),
    "drift": (("V", "mE", "vE", "mI", "vI"), (0, 1), {}),
    "kcore": (("a", "b", "mu", "sig", "al", "be"), (0, 1),
              {"PA": ("Phi", "al"), "pA": ("phi", "al"), "PB": ("Phi", "be"),
               "pB": ("phi", "be")}),
    "moment_rhs": (("m", "v", "f"), (0, 1), {}),
}


def taylor_function_source(name: str, args: Sequence[sp.Symbol], outputs: Sequence[sp.Expr],
                           active: Sequence[str], *, implicit: dict | None = None,
                           order: int = ORDER) -> str:
    """Print the Taylor piece of ``outputs(args)`` as one njit function ``name``.

    Every arg named in ``active`` becomes ``order + 1`` arguments (its series coefficients
    ``y, y_t1, ..., y_t<order>``), the others stay values; the function returns the series
    coefficients of every output, output by output.  ``implicit`` maps an arg name to
    ``(function, active arg name)``: the arg is the value of that function (a sympy function
    class with ``fdiff``, or its name in :mod:`bifsnn.reduction.symbolic`) at the active arg.
    """
    from bifsnn.reduction import symbolic

    t = sp.Symbol("_t_", real=True)
    by_name = {str(a): a for a in args}
    missing = [a for a in active if a not in by_name]
    if missing:
        raise ValueError(f"{name}: active inputs {missing} are not arguments {list(by_name)}")
    series = {a: sp.Function(f"_Y_{a}")(t) for a in active}
    sub = {by_name[a]: series[a] for a in active}
    back: dict[sp.Expr, sp.Expr] = {}
    for arg, (fun, of) in (implicit or {}).items():
        cls = getattr(symbolic, fun) if isinstance(fun, str) else fun
        if of not in series:
            raise ValueError(f"{name}: implicit input {arg} depends on {of}, not active")
        sub[by_name[arg]] = cls(series[of])
        back[cls(series[of])] = by_name[arg]
    coeff_syms = {a: [by_name[a]] + [sp.Symbol(f"{a}_t{k}", real=True)
                                      for k in range(1, order + 1)] for a in active}
    for k in range(1, order + 1):
        for a in active:
            back[sp.Derivative(series[a], (t, k))] = math.factorial(k) * coeff_syms[a][k]
    for a in active:
        back[series[a]] = by_name[a]

    outs: list[sp.Expr] = []
    for e in outputs:
        d = sp.sympify(e).xreplace(sub)
        outs.append(d.xreplace(back))
        for k in range(1, order + 1):
            d = sp.diff(d, t)
            # the derivatives first, then the implicit functions, then the series themselves
            outs.append(d.xreplace({kk: v for kk, v in back.items()
                                     if isinstance(kk, sp.Derivative)})
                         .xreplace({kk: v for kk, v in back.items()
                                    if not isinstance(kk, sp.Derivative)})
                         / math.factorial(k))
    left = set().union(*(o.atoms(sp.Derivative) for o in outs)) | {
        s for o in outs for s in o.free_symbols if s == t}
    if left:  # pragma: no cover - a piece the substitution cannot express
        raise RuntimeError(f"{name}: series left unsubstituted: {sorted(map(str, left))}")
    new_args: list[sp.Symbol] = []
    for a in args:
        new_args += coeff_syms[str(a)] if str(a) in coeff_syms else [a]
    return symbolic._function_source(name, new_args, outs)


def taylor_functions(rule: str, order: int = ORDER) -> str:
    """Source text of the Taylor pieces (``<piece>_taylor``) for within-bin rule ``rule``."""
    from bifsnn.reduction import symbolic

    exprs = symbolic.piece_expressions(rule)
    parts = []
    for piece, (active, keep, implicit) in TAYLOR_PIECES.items():
        if piece not in exprs:
            raise RuntimeError(f"symbolic.py no longer prints the piece {piece!r} that the "
                               "Taylor template uses")
        args, outputs = exprs[piece]
        parts.append(taylor_function_source(f"{piece}_taylor", args,
                                            [outputs[i] for i in keep], active,
                                            implicit=implicit, order=order))
    return "\n\n".join(parts)


class SeriesDerivatives:
    """``d2f(x, p, u, v)`` and ``d3f(x, p, u, v, w)`` (the signatures of
    :class:`~bifsnn.continuation.problem.ODEProblem`) from a Taylor-series evaluator.

    ``series(x, p, dirs)`` returns an array (len(dirs), n, ORDER + 1): the Taylor
    coefficients of ``f(x + t d, p)`` for every row ``d`` of ``dirs``.  The forms follow by
    polarisation of the exact quadratic and cubic forms ``Q(d) = 2 c2`` and ``K(d) = 6 c3``
    (directions normalised first, the forms being multilinear); repeated arguments need
    fewer series (``d2f(x, p, v, v)``: one; ``d3f`` with two equal arguments: two).
    """

    def __init__(self, series) -> None:
        """Wrap ``series(x, p, dirs) -> (len(dirs), n, ORDER + 1)`` coefficients."""
        self.series = series

    @staticmethod
    def _unit(v):
        import numpy as np

        v = np.asarray(v, dtype=float)
        nv = float(np.linalg.norm(v))
        return (v / nv if nv > 0 else v), nv

    def d2f(self, x, p, u, v):
        """D_x^2 f(x, p)[u, v] (real u, v), exact up to rounding."""
        import numpy as np

        (uh, nu), (vh, nv) = self._unit(u), self._unit(v)
        if nu == 0 or nv == 0:
            return np.zeros(np.size(x))
        if np.array_equal(uh, vh):
            return 2.0 * self.series(x, p, uh[None, :])[0, :, 2] * (nu * nv)
        s = self.series(x, p, np.stack([uh + vh, uh - vh]))
        return 0.5 * (s[0, :, 2] - s[1, :, 2]) * (nu * nv)

    def d3f(self, x, p, u, v, w):
        """D_x^3 f(x, p)[u, v, w] (real u, v, w), exact up to rounding."""
        import numpy as np

        (uh, nu), (vh, nv), (wh, nw) = self._unit(u), self._unit(v), self._unit(w)
        scale = nu * nv * nw
        if scale == 0:
            return np.zeros(np.size(x))
        same = [np.array_equal(uh, vh), np.array_equal(vh, wh), np.array_equal(uh, wh)]
        if all(same):
            return 6.0 * self.series(x, p, uh[None, :])[0, :, 3] * scale
        if any(same):  # C(a, a, b) = (K(a + b) - K(a - b) - 2 K(b)) / 6
            a, b = (uh, wh) if same[0] else (vh, uh) if same[1] else (uh, vh)
            s = self.series(x, p, np.stack([a + b, a - b, b]))
            return (s[0, :, 3] - s[1, :, 3] - 2.0 * s[2, :, 3]) * scale
        s = self.series(x, p, np.stack([uh + vh + wh, uh + vh - wh, uh - vh + wh,
                                        uh - vh - wh]))
        return 0.25 * (s[0, :, 3] - s[1, :, 3] - s[2, :, 3] + s[3, :, 3]) * scale
