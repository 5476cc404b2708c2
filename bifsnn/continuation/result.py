"""Results of a continuation: one :class:`Branch` for every kind of curve and one
:class:`SpecialPoint` type (scipy-style: named fields, ``success``/``status``/``message``).

A branch's ``kind`` says what it holds (see :data:`BRANCH_KINDS`): equilibria (EP), periodic
orbits (PO), or a curve of codim-1 points in two parameters (LP, H for equilibria; LPC, PD,
NS for cycles).  Every kind has the same arrays (one row per point), the same special-point
list and accessors, the same export (:meth:`Branch.to_dataframe`, :meth:`Branch.to_xarray`)
and the same file format (:mod:`bifsnn.continuation.io`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["BRANCH_KINDS", "Branch", "POINT_TYPES", "SpecialPoint", "merge_sides",
           "with_end_points"]

#: Special-point labels (AUTO/MatCont conventions).
POINT_TYPES = {
    "LP": "limit point (fold / saddle-node)",
    "H": "Hopf point (on a cycle branch: the branch ended at zero amplitude)",
    "BP": "branch point",
    "BT": "Bogdanov-Takens point",
    "CP": "cusp point",
    "GH": "generalised Hopf (Bautin) point",
    "ZH": "zero-Hopf (fold-Hopf) point",
    "HH": "double-Hopf (Hopf-Hopf) point",
    "LPC": "limit point (fold) of cycles",
    "PD": "period doubling (flip) of cycles",
    "NS": "Neimark-Sacker (torus) bifurcation of cycles",
    "CPC": "cusp of cycles (on an LPC curve)",
    "LPPD": "fold-flip (LPC and PD at one cycle)",
    "LPNS": "fold-Neimark-Sacker (LPC and NS at one cycle)",
    "PDNS": "flip-Neimark-Sacker (PD and NS at one cycle)",
    "R1": "1:1 resonance (NS multipliers at 1)",
    "R2": "1:2 resonance (NS multipliers at -1)",
    "R3": "1:3 resonance (NS multipliers exp(+-2 pi i / 3))",
    "R4": "1:4 resonance (NS multipliers +-i)",
    "UZ": "user event (a recorded function or the parameter reached a given value)",
    "EP": "end point",
}

#: Branch kinds: what one row of a branch is.
BRANCH_KINDS = {
    "EP": "equilibria in one parameter",
    "PO": "periodic orbits in one parameter",
    "LP": "folds of equilibria in two parameters",
    "H": "Hopf points in two parameters",
    "LPC": "folds of cycles in two parameters",
    "PD": "period doublings in two parameters",
    "NS": "Neimark-Sacker points in two parameters",
}

#: Kinds whose rows are cycles (periodic orbits): they have a period and a mesh.
CYCLE_KINDS = ("PO", "LPC", "PD", "NS")


#: Normal-form coefficients per special-point type (see SpecialPoint.normal_form).
_NORMAL_FORM_KEYS: dict[str, tuple[str, ...]] = {
    "LP": ("a",),
    "H": ("omega", "l1"),
    "GH": ("omega", "l1", "l2", "c2"),
    "BT": ("a", "b"),
    "CP": ("c",),
    "ZH": ("omega", "g200", "g011", "h110", "s", "theta"),
    "HH": ("omega", "omega2"),
}


@dataclass
class SpecialPoint:
    """A detected (and, if ``located``, accurately computed) special point.

    ``type`` is a label of :data:`POINT_TYPES`; ``index`` its row in the branch arrays
    (located points are inserted into the branch); ``x`` the state (on cycle branches the
    cycle's state at t = 0), ``p`` the full parameter vector, ``param`` the first continuation
    parameter's value.  ``data`` holds type-specific values: ``omega``, ``l1``,
    ``criticality``, ``q``/``p_adj`` at Hopf points; ``eigenvalue`` (the critical one),
    test-function values and ``tangent`` on equilibria; ``period``, ``multipliers`` and
    ``test`` on cycles; ``locator``/``residual``/``iterations`` where a locator ran.
    """

    type: str
    index: int
    x: np.ndarray
    p: np.ndarray
    param_indices: tuple[int, ...]
    located: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def param(self) -> float:
        """Value of the first continuation parameter."""
        return float(self.p[self.param_indices[0]])

    @property
    def params(self) -> np.ndarray:
        """Values of the continued parameters."""
        return self.p[list(self.param_indices)]

    @property
    def normal_form(self) -> dict[str, Any]:
        """The normal-form coefficients of this point (those computed), by type: LP ``a``;
        H ``omega``, ``l1``; GH ``l1``, ``l2``, ``c2``; BT ``a``, ``b``; CP ``c``; ZH ``g200``,
        ``g011``, ``h110``, ``s``, ``theta``; plus ``derivatives`` (how the derivatives were
        taken).  Read from ``data``, so it survives save_branch / load_branch."""
        keys = _NORMAL_FORM_KEYS.get(self.type, ())
        out = {k: self.data[k] for k in keys if self.data.get(k) is not None}
        if out:
            for k in ("derivatives", "higher_derivatives"):
                if self.data.get(k) is not None:
                    out[k] = self.data[k]
        return out

    def __repr__(self) -> str:
        extra = ""
        if "omega" in self.data and self.data["omega"] is not None:
            extra += f", omega={float(self.data['omega']):.6g}"
        if "period" in self.data and self.data["period"] is not None:
            extra += f", period={float(self.data['period']):.6g}"
        if "l1" in self.data and self.data["l1"] is not None:
            extra += f", l1={float(self.data['l1']):.4g}"
        why = self.data.get("unconfirmed") if isinstance(self.data, dict) else None
        loc = "" if self.located else (f", unconfirmed: {why}" if why else ", not located")
        vals = ", ".join(f"{v:.8g}" for v in self.params)
        return f"SpecialPoint({self.type} at p=({vals}), index={self.index}{extra}{loc})"


def with_end_points(points: list[SpecialPoint], x: np.ndarray, p: np.ndarray,
                    param_indices: tuple[int, ...], end_message: str,
                    tangents: np.ndarray | None = None) -> list[SpecialPoint]:
    """``points`` plus 'EP' points at the first and last rows, sorted by row (the start EP
    first and the final EP last among points sharing a row)."""
    out = list(points)
    n = len(x)
    if n:
        for row in (0, n - 1):
            data = {} if tangents is None else {"tangent": tangents[row].copy()}
            out.append(SpecialPoint("EP", row, x[row].copy(), p[row].copy(), param_indices,
                                    True, data, "start" if row == 0 else end_message))
    rank = lambda s: 1 if s.type != "EP" else (0 if s.index == 0 else 2)  # noqa: E731
    return sorted(out, key=lambda s: (s.index, rank(s)))


@dataclass
class Branch:
    """A continued curve; ``kind`` (:data:`BRANCH_KINDS`) says what its rows are.

    Arrays have one row per point: ``x`` (N, n) states (on cycle kinds: the cycle's state at
    t = 0), ``p`` (N, n_params) full parameter vectors, ``eigenvalues`` (N, k) complex: the
    Jacobian's eigenvalues (sorted by decreasing real part) or, on cycle kinds, the Floquet
    multipliers (by decreasing modulus), padded with NaN; ``n_unstable`` (N,) the number of
    eigenvalues with positive real part / nontrivial multipliers outside the unit circle (-1
    when unknown); ``tangents`` (N, dim) unit tangents where the unknowns keep their meaning
    (None on cycle branches, whose mesh adapts).  ``extra`` holds further per-point arrays
    (``omega`` on Hopf curves, test-function values; on cycle kinds ``period``, ``x_min``,
    ``x_max``, ``amplitude``, ``mesh`` (N, ntst+1) and ``nodes`` (N, ntst*ncol+1, n)); ``info``
    holds scalars about the run (e.g. ``ncol``).  ``param_indices`` are the continued
    parameters (one for EP/PO, two for curves of codim-1 points); ``param_names``/``x_names``
    name the parameters and states.

    ``success``/``status``/``message`` say how the run ended (status "error": the user's
    function raised; the message holds the exception's type and text); a failed run still
    returns every point computed before the failure.  ``nit`` is the total number of Newton
    iterations of the accepted steps.  ``problem`` is the problem the branch was computed
    from (re-attached by ``load_branch(path, problem=...)``), so that every branch can be
    continued further; ``options`` and ``collocation`` are the settings used.
    """

    kind: str
    x: np.ndarray
    p: np.ndarray
    param_indices: tuple[int, ...]
    eigenvalues: np.ndarray
    n_unstable: np.ndarray
    tangents: np.ndarray | None = None
    special_points: list[SpecialPoint] = field(default_factory=list)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    success: bool = True
    status: str = ""
    message: str = ""
    param_names: tuple[str, ...] | None = None
    x_names: tuple[str, ...] | None = None
    name: str = ""
    nit: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    problem: Any = field(default=None, repr=False, compare=False)
    options: Any = field(default=None, repr=False, compare=False)
    collocation: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in BRANCH_KINDS:
            raise ValueError(f"kind = {self.kind!r} is out of range: must be one of "
                             f"{tuple(BRANCH_KINDS)}")
        if self.param_names is not None:
            self.param_names = tuple(self.param_names)
        if self.x_names is not None:
            self.x_names = tuple(self.x_names)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_points(self) -> int:
        """Number of rows."""
        return len(self)

    @property
    def param_values(self) -> np.ndarray:
        """Values of the first continuation parameter along the branch."""
        return self.p[:, self.param_indices[0]]

    @property
    def params(self) -> np.ndarray:
        """(N, k) values of the continued parameters."""
        return self.p[:, list(self.param_indices)]

    @property
    def stable(self) -> np.ndarray:
        """True where every eigenvalue (multiplier) is stable (False where unknown)."""
        return self.n_unstable == 0

    @property
    def is_cycle(self) -> bool:
        """Whether the rows are periodic orbits (kinds PO, LPC, PD, NS)."""
        return self.kind in CYCLE_KINDS

    def _cycle_array(self, key: str) -> np.ndarray:
        if not self.is_cycle:
            raise AttributeError(f"a {self.kind} branch has no {key!r} (only cycle kinds "
                                 f"{CYCLE_KINDS})")
        return self.extra[key]

    @property
    def period(self) -> np.ndarray:
        """(N,) periods (cycle kinds only)."""
        return self._cycle_array("period")

    @property
    def x_min(self) -> np.ndarray:
        """(N, n) componentwise minimum over each cycle (cycle kinds only)."""
        return self._cycle_array("x_min")

    @property
    def x_max(self) -> np.ndarray:
        """(N, n) componentwise maximum over each cycle (cycle kinds only)."""
        return self._cycle_array("x_max")

    @property
    def amplitude(self) -> np.ndarray:
        """(N,) L2 amplitude of u - mean over each cycle (cycle kinds only)."""
        return self._cycle_array("amplitude")

    @property
    def multipliers(self) -> np.ndarray:
        """(N, k) Floquet multipliers (cycle kinds only; the ``eigenvalues`` array)."""
        self._cycle_array("period")
        return self.eigenvalues

    def cycle(self, i: int):
        """Row ``i`` of a cycle branch as a
        :class:`~bifsnn.continuation.periodic.CycleSolution` (mesh, node values, period)."""
        from bifsnn.continuation.periodic.collocation import CycleSolution, FloquetResult

        nodes = self._cycle_array("nodes")
        i = range(len(self))[i]
        mu = self.eigenvalues[i]
        mu = mu[np.isfinite(mu)]
        triv = self.extra.get("trivial_error", np.full(len(self), np.nan))[i]
        fl = FloquetResult(mu, None, float(triv)) if mu.size else None
        return CycleSolution(self.extra["mesh"][i].copy(), int(self.info["ncol"]),
                             nodes[i].copy(), float(self.extra["period"][i]),
                             float(self.param_values[i]), True, "row of a branch",
                             floquet=fl, extra={"row": i})

    def param_label(self, j: int = 0) -> str:
        """Name of the j-th continued parameter (``p[k]`` without names)."""
        k = self.param_indices[j]
        return self.param_names[k] if self.param_names else f"p[{k}]"

    def points(self, type: str | None = None) -> list[SpecialPoint]:  # noqa: A002
        """Special points, optionally only those of one type."""
        return [sp for sp in self.special_points if type is None or sp.type == type]

    def point(self, point: SpecialPoint | int,
              expected: str | tuple[str, ...] | None = None) -> SpecialPoint:
        """``point`` itself, or ``special_points[point]`` for an int; checks its type against
        ``expected`` (one label or a tuple of labels) when given."""
        if isinstance(point, int | np.integer) and not isinstance(point, bool):
            try:
                point = self.special_points[int(point)]
            except IndexError:
                raise ValueError(f"point = {point} is out of range: the branch has "
                                 f"{len(self.special_points)} special points") from None
        if not isinstance(point, SpecialPoint):
            raise TypeError(f"point must be a SpecialPoint or an index into special_points, "
                            f"got {type(point).__name__}")
        allowed = (expected,) if isinstance(expected, str) else expected
        if allowed is not None and point.type not in allowed:
            raise ValueError(f"point is {point.type!r} (index {point.index}); expected "
                             f"{' or '.join(allowed)}")
        return point

    # ------------------------------------------------------------------ export
    def _columns(self) -> dict[str, np.ndarray]:
        cols: dict[str, np.ndarray] = {}
        for j in range(len(self.param_indices)):
            cols[self.param_label(j)] = self.params[:, j]
        n = self.x.shape[1]
        xn = self.x_names or tuple(f"x{i}" for i in range(n))
        for i in range(n):
            cols[xn[i]] = self.x[:, i]
        cols["n_unstable"] = self.n_unstable
        cols["stable"] = self.stable
        for key, val in self.extra.items():
            arr = np.asarray(val)
            if arr.ndim == 1 and arr.shape[0] == len(self):
                cols[key] = arr
            elif arr.ndim == 2 and arr.shape == (len(self), n) and key in ("x_min", "x_max"):
                for i in range(n):
                    cols[f"{key}_{xn[i]}"] = arr[:, i]
        labels = np.full(len(self), "", dtype=object)
        for s in self.special_points:
            if 0 <= s.index < len(self):
                labels[s.index] = s.type if not labels[s.index] else f"{labels[s.index]},{s.type}"
        cols["special"] = labels
        return cols

    def to_dataframe(self):
        """One row per point: continued parameters, states, stability, the per-point scalar
        ``extra`` arrays (period, omega, ...), cycle envelopes and the special-point labels
        (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Branch.to_dataframe needs pandas: pip install pandas "
                              "(or the 'test' extra)") from exc
        df = pd.DataFrame(self._columns())
        df.index.name = "point"
        df.attrs.update(kind=self.kind, name=self.name, status=self.status,
                        message=self.message)
        return df

    def to_xarray(self):
        """An ``xarray.Dataset`` over dimensions ``point``, ``state``, ``param`` and ``eig``
        (plus ``node``/``mesh_point`` on cycle kinds) with every array of the branch
        (requires xarray)."""
        try:
            import xarray as xr
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Branch.to_xarray needs xarray: pip install xarray "
                              "(or the 'sweep' extra)") from exc
        N, n = self.x.shape
        pn = self.param_names or tuple(f"p[{k}]" for k in range(self.p.shape[1]))
        xn = self.x_names or tuple(f"x{i}" for i in range(n))
        data = {
            "x": (("point", "state"), self.x),
            "p": (("point", "param"), self.p),
            "eigenvalues": (("point", "eig"), self.eigenvalues),
            "n_unstable": (("point",), self.n_unstable),
        }
        for key, val in self.extra.items():
            arr = np.asarray(val)
            if arr.ndim == 0 or arr.shape[0] != N:
                continue
            if arr.ndim == 1:
                dims: tuple[str, ...] = ("point",)
            elif arr.ndim == 2 and arr.shape[1] == n and key != "mesh":
                dims = ("point", "state")
            elif arr.ndim == 2:
                dims = ("point", f"{key}_index")
            elif arr.ndim == 3 and arr.shape[2] == n:
                dims = ("point", "node", "state")
            else:
                dims = ("point", *[f"{key}_{d}" for d in range(1, arr.ndim)])
            data[key] = (dims, arr)
        coords = {"point": np.arange(N), "state": list(xn), "param": list(pn)}
        for j in range(len(self.param_indices)):
            coords[self.param_label(j)] = ("point", self.params[:, j])
        ds = xr.Dataset(data, coords=coords)
        ds.attrs.update(kind=self.kind, name=self.name, success=int(self.success),
                        status=self.status, message=self.message,
                        special_points=";".join(f"{s.type}@{s.index}"
                                                for s in self.special_points))
        return ds

    def summary(self) -> str:
        """A few lines: kind, size, how the run ended, the special points."""
        lines = [f"{self.kind} branch '{self.name}': {len(self)} points, "
                 f"{'success' if self.success else 'FAILED'}: {self.message}"]
        for s in self.special_points:
            lines.append(f"  {s!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        types = ", ".join(s.type for s in self.special_points)
        return (f"Branch(kind={self.kind!r}, n_points={len(self)}, success={self.success}, "
                f"special_points=[{types}], message={self.message!r})")


def merge_sides(back: Branch, fwd: Branch) -> Branch:
    """One branch from two runs that leave the same start in opposite directions: ``back``
    reversed, then ``fwd`` without its (duplicate) start row.  Special points are re-indexed,
    the two start 'EP' points are dropped, ``success`` requires both runs to succeed."""
    Nb, Nf = len(back), len(fwd)
    if Nb == 0:
        return fwd
    if Nf == 0:
        return back
    rev = np.arange(Nb - 1, -1, -1)
    keep_f = np.arange(1, Nf)

    def cat(a, b):
        if a is None or b is None:
            return None
        a, b = np.asarray(a), np.asarray(b)
        k = max(a.shape[1], b.shape[1]) if a.ndim == 2 and a.dtype.kind == "c" else None
        if k is not None and a.shape[1] != b.shape[1]:  # pad eigenvalue arrays
            a = np.pad(a, ((0, 0), (0, k - a.shape[1])), constant_values=np.nan)
            b = np.pad(b, ((0, 0), (0, k - b.shape[1])), constant_values=np.nan)
        return np.concatenate([a[rev], b[keep_f]])

    tangents = None
    if back.tangents is not None and fwd.tangents is not None:
        tangents = np.concatenate([-back.tangents[rev], fwd.tangents[keep_f]])
    extra = {k: cat(v, fwd.extra[k]) for k, v in back.extra.items()
             if k in fwd.extra and np.ndim(v) >= 1 and len(v) == Nb and len(fwd.extra[k]) == Nf}
    sps = []
    for s in back.special_points:
        if s.type == "EP" and s.index == 0:
            continue
        sps.append(replace(s, index=Nb - 1 - s.index))
    for s in fwd.special_points:
        if s.type == "EP" and s.index == 0:
            continue
        sps.append(replace(s, index=Nb - 1 + s.index))
    sps.sort(key=lambda s: s.index)
    ok = back.success and fwd.success
    msg = f"backward: {back.message}; forward: {fwd.message}"
    status = fwd.status if not fwd.success or back.success else back.status
    return replace(fwd, x=cat(back.x, fwd.x), p=cat(back.p, fwd.p),
                   eigenvalues=cat(back.eigenvalues, fwd.eigenvalues),
                   n_unstable=cat(back.n_unstable, fwd.n_unstable), tangents=tangents,
                   special_points=sps, extra=extra, success=ok, status=status, message=msg,
                   nit=back.nit + fwd.nit, info={**back.info, **fwd.info})
