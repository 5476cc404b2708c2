"""Regime maps of two-parameter sweeps: regime label or any observable as a heat map, with
optional continuation curves (arrays of (x, y) points) overlaid; written as PNG and PDF."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn._figures import subplots
from bifsnn.sweeps.classify import DELTA_M_EDGES, REGIMES

__all__ = ["REGIME_COLORS", "RegimeMap", "delta_m_diagram", "plot_delta_m_diagram",
           "plot_regime_map", "reduce_to_2d"]

#: Colours of the regime labels ("" = no successful point).
REGIME_COLORS: dict[str, str] = {
    "asynchronous": "#d9d9d9",
    "regular-MFE": "#2c7bb6",
    "alternating-MFE": "#fdae61",
    "irregular": "#d7191c",
    "": "#ffffff",
}


@dataclass
class RegimeMap:
    """A drawn map: the figure, the files written, and the 2-D values shown (y by x)."""

    figure: Any
    paths: list[Path]
    values: np.ndarray
    x: np.ndarray
    y: np.ndarray
    var: str
    notes: list[str] = field(default_factory=list)


def _majority(labels: np.ndarray) -> str:
    """Most frequent non-empty label; ties broken in REGIMES order; "" if none."""
    counts = Counter(str(v) for v in labels.ravel() if str(v))
    if not counts:
        return ""
    best = max(counts.values())
    tied = [lab for lab, c in counts.items() if c == best]
    order = {r: i for i, r in enumerate(REGIMES)}
    return sorted(tied, key=lambda lab: (order.get(lab, len(order)), lab))[0]


def _select(da: Any, select: Mapping[str, Any] | None) -> Any:
    """``da.sel(select)`` matching numbers to 1e-9 relative (float coordinates) and raising
    a ValueError naming the dimension and its values when nothing matches."""
    for dim, value in dict(select or {}).items():
        if dim not in da.dims:
            raise ValueError(f"select: {dim!r} is not a dimension (dims {da.dims})")
        coord = np.asarray(da[dim].values)
        if coord.dtype.kind in "fiu" and isinstance(value, int | float):
            k = int(np.argmin(np.abs(coord - value)))
            if abs(coord[k] - value) > 1e-9 * max(1.0, abs(value)):
                raise ValueError(f"select: {dim} = {value!r} is not in the sweep; values: "
                                 f"{coord.tolist()}")
            da = da.isel({dim: k})
        else:
            hits = np.flatnonzero(coord == value)
            if hits.size == 0:
                raise ValueError(f"select: {dim} = {value!r} is not in the sweep; values: "
                                 f"{coord.tolist()}")
            da = da.isel({dim: int(hits[0])})
    return da


def reduce_to_2d(ds: Any, x: str, y: str, var: str,
                 select: Mapping[str, Any] | None = None) -> tuple[np.ndarray, list[str]]:
    """``ds[var]`` as a (len(y), len(x)) array: ``select`` picks values of other dimensions,
    length-1 dimensions are dropped, and ``seed`` is reduced (majority label for ``regime``,
    NaN-mean for numbers).  Any other remaining dimension is an error naming it."""
    if var not in ds:
        raise ValueError(f"var = {var!r} is not in the sweep; available: {sorted(ds.data_vars)}")
    for name in (x, y):
        if name not in ds[var].dims:
            raise ValueError(f"{name!r} is not a dimension of {var!r} (dims {ds[var].dims})")
    if x == y:
        raise ValueError("x and y must be different dimensions")
    da = ds[var]
    notes: list[str] = []
    da = _select(da, select)
    for d in list(da.dims):
        if d not in (x, y) and da.sizes[d] == 1:
            da = da.isel({d: 0})
    extra = [d for d in da.dims if d not in (x, y, "seed")]
    if extra:
        raise ValueError(
            f"{var!r} has further dimensions {extra}; choose values with select={{...}} "
            "(CLI: --select NAME=VALUE)"
        )
    if "seed" in da.dims and "seed" not in (x, y):  # a map over seeds keeps them apart
        notes.append(f"reduced over {da.sizes['seed']} seeds "
                     f"({'majority label' if da.dtype.kind in 'OUS' else 'mean'})")
        da = da.transpose(y, x, "seed")
        if da.dtype.kind in "OUS":
            arr = np.array([[_majority(da.values[i, j]) for j in range(da.sizes[x])]
                            for i in range(da.sizes[y])], dtype=object)
        else:
            with np.errstate(all="ignore"):
                arr = np.asarray(da.values, dtype=float)
                cnt = np.sum(np.isfinite(arr), axis=-1)
                arr = np.where(cnt > 0, np.nansum(np.nan_to_num(arr, nan=0.0), axis=-1)
                               / np.maximum(cnt, 1), np.nan)
        return arr, notes
    return np.asarray(da.transpose(y, x).values), notes


def _edges(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Cell edges for numeric coordinates (midpoints), else index edges; flag = numeric."""
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.arange(len(values) + 1) - 0.5, False
    if len(v) == 1:
        w = abs(v[0]) * 0.05 or 0.5
        return np.array([v[0] - w, v[0] + w]), True
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]]), True


def plot_regime_map(
    ds: Any,
    x: str,
    y: str,
    var: str = "regime",
    *,
    select: Mapping[str, Any] | None = None,
    curves: Sequence[Any] | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    title: str | None = None,
    cmap: str = "viridis",
) -> RegimeMap:
    """Heat map of ``var`` over the sweep dimensions ``x`` and ``y``.

    ``var="regime"`` draws categorical colours (:data:`REGIME_COLORS`); a numeric variable
    draws a colour bar.  ``curves`` are (n, 2) arrays of (x, y) points (e.g. Hopf or fold
    curves from continuation), given as a list or as a mapping label -> array.  With ``out``
    (a path stem; any suffix is dropped) the figure is saved as ``out.png`` and ``out.pdf``.
    """
    import matplotlib
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    arr, notes = reduce_to_2d(ds, x, y, var, select)
    xv, yv = np.asarray(ds[x].values), np.asarray(ds[y].values)
    xe, xnum = _edges(xv)
    ye, ynum = _edges(yv)
    fig, ax = subplots(figsize=(6.4, 4.8), constrained_layout=True)
    if arr.dtype.kind in "OUS":
        labels = list(REGIME_COLORS)
        extra = sorted({str(v) for v in arr.ravel()} - set(labels))
        labels += extra
        codes = np.vectorize(lambda s: labels.index(str(s)))(arr).astype(float)
        colors = [REGIME_COLORS.get(lab, matplotlib.colormaps["tab10"](i % 10))
                  for i, lab in enumerate(labels)]
        ax.pcolormesh(xe, ye, codes, cmap=ListedColormap(colors), vmin=-0.5,
                      vmax=len(labels) - 0.5, shading="flat", antialiased=False, linewidth=0)
        present = [lab for lab in labels if np.any(arr == lab)]
        handles = [Patch(facecolor=colors[labels.index(lab)], edgecolor="k",
                         label=lab or "no result") for lab in present]
        # a figure legend outside the axes (kept by constrained layout, separate from the
        # curve legend drawn inside the axes)
        fig.legend(handles=handles, loc="outside right upper", frameon=False, title=var)
    else:
        mesh = ax.pcolormesh(xe, ye, np.asarray(arr, dtype=float), cmap=cmap, shading="flat")
        fig.colorbar(mesh, ax=ax, label=var)
    if curves is not None:
        items = curves.items() if isinstance(curves, Mapping) else \
            ((None, c) for c in curves)
        for i, (label, pts) in enumerate(items):
            pts = np.asarray(pts, dtype=float)
            if pts.ndim != 2 or pts.shape[1] != 2:
                raise ValueError(f"curve {label or i}: expected an (n, 2) array of (x, y) "
                                 f"points, got shape {pts.shape}")
            ax.plot(pts[:, 0], pts[:, 1], "k-" if i == 0 else "-", lw=1.8,
                    label=label if label is not None else None)
        if isinstance(curves, Mapping):
            ax.legend(loc="lower right", fontsize="small")
        if xnum and ynum:
            ax.set_xlim(xe[0], xe[-1])
            ax.set_ylim(ye[0], ye[-1])
    if not xnum:
        ax.set_xticks(np.arange(len(xv)), [str(v) for v in xv])
    if not ynum:
        ax.set_yticks(np.arange(len(yv)), [str(v) for v in yv])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{var} over ({x}, {y})" + (f" [{notes[0]}]" if notes else ""),
                 fontsize="medium")
    paths = _save(fig, out)
    return RegimeMap(figure=fig, paths=paths, values=arr, x=xv, y=yv, var=var, notes=notes)


def _save(fig: Any, out: str | Path | None) -> list[Path]:
    """PNG and PDF of ``fig`` at the path stem ``out`` (atomic); nothing when ``out`` is None."""
    if out is None:
        return []
    from bifsnn._figures import save_figure

    return save_figure(fig, out)


def delta_m_diagram(ds: Any, x: str, select: Mapping[str, Any] | None = None) -> Any:
    """The simulation-side bifurcation diagram (docs/MODEL.md section 6) of a sweep over ``x``:
    an ``observables.DeltaMDiagram`` whose row i pools the Delta m histograms of all seeds
    at ``x[i]``, each weighted by its number of Delta m values (``n_peaks - 1``).

    Needs the ``delta_m_hist`` and ``delta_m`` observable groups.  Failed points are skipped.
    """
    from bifsnn.network.observables import DeltaMDiagram

    for need in ("delta_m_hist", "n_peaks"):
        if need not in ds:
            raise ValueError(f"the sweep has no {need!r}; add 'delta_m_hist' and 'delta_m' to "
                             "its observables")
    hist, n = ds["delta_m_hist"], ds["n_peaks"]
    hist, n = _select(hist, select), _select(n, select)
    for d in list(n.dims):
        if d not in (x, "seed") and n.sizes[d] == 1:
            hist, n = hist.isel({d: 0}), n.isel({d: 0})
    extra = [d for d in n.dims if d not in (x, "seed")]
    if x not in n.dims:
        raise ValueError(f"{x!r} is not a dimension of the sweep (dims {tuple(ds.sizes)})")
    if extra:
        raise ValueError(f"the sweep has further dimensions {extra}; choose values with "
                         "select={...} (CLI: --select NAME=VALUE)")
    n = n.transpose(x, ...)
    hist = hist.transpose(x, ..., "delta_m")
    w = np.clip(np.nan_to_num(np.asarray(n.values, dtype=float) - 1.0, nan=0.0), 0.0, None)
    h = np.nan_to_num(np.asarray(hist.values, dtype=float), nan=0.0)
    w = w.reshape(w.shape[0], -1)
    h = h.reshape(h.shape[0], -1, h.shape[-1])
    total = w.sum(axis=1)
    frac = np.einsum("ij,ijk->ik", w, h) / np.where(total > 0, total, 1.0)[:, None]
    return DeltaMDiagram(parameter_values=np.asarray(ds[x].values, dtype=float),
                         edges=DELTA_M_EDGES.copy(), fraction=frac, n_values=total.astype(int))


def plot_delta_m_diagram(ds: Any, x: str, *, select: Mapping[str, Any] | None = None,
                         out: str | Path | None = None, title: str = "") -> RegimeMap:
    """Draw :func:`delta_m_diagram` with ``bifsnn.network.plots.plot_delta_m_vs_parameter``; with
    ``out`` (path stem) write PNG and PDF."""
    from bifsnn.network.plots import plot_delta_m_vs_parameter

    diagram = delta_m_diagram(ds, x, select)
    fig = plot_delta_m_vs_parameter(diagram, None, parameter_name=x, title=title)
    paths = _save(fig, out)
    return RegimeMap(figure=fig, paths=paths, values=diagram.fraction,
                     x=diagram.parameter_values, y=diagram.edges, var="delta_m_hist")
