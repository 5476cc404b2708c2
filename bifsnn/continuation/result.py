"""Results of a continuation: :class:`Branch` (scipy-style: named fields, ``success``,
``message``) and its :class:`SpecialPoint` entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Branch", "SpecialPoint", "POINT_TYPES", "with_end_points"]

#: Special-point labels (AUTO/MatCont conventions).
POINT_TYPES = {
    "LP": "limit point (fold / saddle-node)",
    "H": "Hopf point",
    "BP": "branch point",
    "BT": "Bogdanov-Takens point",
    "CP": "cusp point",
    "GH": "generalised Hopf (Bautin) point",
    "ZH": "zero-Hopf (fold-Hopf) point",
    "EP": "end point",
}


@dataclass
class SpecialPoint:
    """A detected (and, if ``located``, accurately computed) special point.

    ``index`` is its row in the branch arrays (located points are inserted into the branch);
    ``x`` the state, ``p`` the full parameter vector; ``data`` holds type-specific values:
    ``omega``, ``l1`` and ``criticality`` for Hopf points, ``eigenvalue`` (the critical one),
    ``q``/``p_adj`` (right/left critical eigenvectors), test-function values, ``tangent``.
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
        return self.p[list(self.param_indices)]

    def __repr__(self) -> str:
        extra = ""
        if "omega" in self.data:
            extra += f", omega={self.data['omega']:.6g}"
        if "l1" in self.data and self.data["l1"] is not None:
            extra += f", l1={self.data['l1']:.4g}"
        loc = "" if self.located else ", not located"
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
    """A continued curve of equilibria (``kind='EP'``), folds (``'LP'``) or Hopf points (``'H'``).

    Arrays have one row per point: ``x`` (N, n) states, ``p`` (N, n_params) full parameter
    vectors, ``tangents`` (N, dim) unit tangents of the continuation unknowns,
    ``eigenvalues`` (N, k) complex (sorted by decreasing real part, padded with NaN),
    ``n_unstable`` (N,) number of eigenvalues with positive real part (-1 when unknown).
    ``param_indices`` are the continued parameters (one for equilibria, two for curves of
    codim-1 points); ``extra`` holds per-point arrays such as ``omega`` on Hopf curves and the
    test-function values.  ``success``/``status``/``message`` say how the run ended; a failed
    run still returns every point computed before the failure.
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
    problem: Any = field(default=None, repr=False, compare=False)
    options: Any = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_points(self) -> int:
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
        """True where every eigenvalue has negative real part (False where unknown)."""
        return self.n_unstable == 0

    def param_label(self, j: int = 0) -> str:
        k = self.param_indices[j]
        return self.param_names[k] if self.param_names else f"p[{k}]"

    def points(self, type: str | None = None) -> list[SpecialPoint]:  # noqa: A002
        """Special points, optionally only those of one type."""
        return [sp for sp in self.special_points if type is None or sp.type == type]

    def summary(self) -> str:
        lines = [f"{self.kind} branch '{self.name}': {len(self)} points, "
                 f"{'success' if self.success else 'FAILED'}: {self.message}"]
        for s in self.special_points:
            lines.append(f"  {s!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        types = ", ".join(s.type for s in self.special_points)
        return (f"Branch(kind={self.kind!r}, n_points={len(self)}, success={self.success}, "
                f"special_points=[{types}], message={self.message!r})")
