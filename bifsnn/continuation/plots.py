"""Bifurcation diagrams: one-parameter (equilibria and cycles) and two-parameter (fold and Hopf
curves).  Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state); use
:func:`save_figure` to write PNG + PDF atomically.

Styles: stable parts solid, unstable parts dashed; special points marked and labelled with
their type (LP, H, BP, BT, CP, GH, PD, LPC, NS, ...); end points (EP) are not labelled.

Cycle branches are :class:`~bifsnn.continuation.Branch` objects of kind 'PO', or duck-typed:
any object with

* ``param_values``: (N,) values of the continuation parameter;
* ``x_min``, ``x_max``: (N, n) componentwise minimum / maximum of the cycle over one period;
* ``period``: (N,) periods;
* optionally ``stable``: (N,) bool (from the Floquet multipliers; missing means unknown and
  is drawn solid), ``special_points``: items with ``.type`` (str) and ``.index`` (row), and
  ``name`` (legend label)

is drawn by :func:`bifurcation_diagram` as a min/max envelope (two lines per branch) and, in
an optional second panel, as period against parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bifsnn._figures import save_figure

__all__ = ["bifurcation_diagram", "two_parameter_diagram", "save_figure", "plot_branch"]

_COLORS = {"EP": "C0", "LP": "C0", "H": "C3", "LPC": "C2", "PD": "C4", "NS": "C5"}
_MARKERS = {"LP": "o", "H": "s", "BP": "^", "BT": "*", "CP": "D", "GH": "P", "ZH": "X",
            "PD": "v", "LPC": "o", "NS": "d"}


def _component(component, names: Sequence[str] | None) -> Callable[[np.ndarray], np.ndarray]:
    """Map rows of states (N, n) to the plotted value (N,)."""
    if callable(component):
        return lambda X: np.array([component(x) for x in X])
    if component == "norm":
        return lambda X: np.linalg.norm(X, axis=1)
    if isinstance(component, str):
        if not names or component not in names:
            raise ValueError(f"unknown state component {component!r}")
        component = list(names).index(component)
    k = int(component)
    return lambda X: X[:, k]


def _segments(stable: np.ndarray):
    """Runs of equal stability: (start, stop_inclusive, stable)."""
    runs = []
    start = 0
    for i in range(1, len(stable) + 1):
        if i == len(stable) or stable[i] != stable[start]:
            runs.append((start, min(i, len(stable) - 1), bool(stable[start])))
            start = i
    return runs


def _draw_line(ax, xs, ys, stable, color, label=None, lw=1.6):
    first = True
    for a, b, st in _segments(np.asarray(stable, dtype=bool)):
        ax.plot(xs[a:b + 1], ys[a:b + 1], color=color, lw=lw, ls="-" if st else "--",
                label=label if first else None)
        first = False


def _label_points(ax, points, xs, ys, color="k"):
    for sp_ in points:
        if sp_.type == "EP" or not (0 <= sp_.index < len(xs)):
            continue
        x, y = xs[sp_.index], ys[sp_.index]
        ax.plot([x], [y], marker=_MARKERS.get(sp_.type, "o"), color=color, ms=6, ls="none",
                mfc="white" if not getattr(sp_, "located", True) else color)
        ax.annotate(sp_.type, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)


def plot_branch(branch_or_ax, branch=None, component=0, color=None, label=None, *,
                ax: Axes | None = None) -> Axes:
    """Draw one branch (stable solid, unstable dashed, special points labelled) and return
    the Axes: ``plot_branch(branch, ax=ax)``, ``plot_branch(branch)`` (a new detached
    figure, ``ax.figure``) or the older ``plot_branch(ax, branch)``.  Cycle branches (kind
    'PO') are drawn as their min/max envelope."""
    if branch is None:
        branch = branch_or_ax
    elif ax is None and _is_axes(branch_or_ax):
        ax = branch_or_ax
    else:
        raise TypeError("plot_branch takes the branch first and the Axes as ax=...: "
                        "plot_branch(branch, ax=ax) (or the older plot_branch(ax, branch))")
    if _is_axes(branch) or not (hasattr(branch, "param_values") and hasattr(branch, "x")):
        raise TypeError(f"branch = {type(branch).__name__} is not a branch: pass a Branch "
                        "(plot_branch(branch, ax=ax))")
    if ax is None:
        from bifsnn._figures import subplots

        _, ax = subplots(figsize=(6, 4.5), constrained_layout=True)
    elif not _is_axes(ax):
        raise TypeError(f"ax = {type(ax).__name__} is not a matplotlib Axes")
    color = color or "C0"
    if _is_cycle(branch):
        _plot_cycle(ax, None, branch, component, color)
        return ax
    get = _component(component, branch.x_names)
    xs = branch.param_values
    ys = get(branch.x)
    stable = branch.stable if np.all(branch.n_unstable >= 0) else np.ones(len(xs), bool)
    _draw_line(ax, xs, ys, stable, color, label or branch.name)
    _label_points(ax, branch.special_points, xs, ys)
    return ax


def _is_axes(obj) -> bool:
    """A matplotlib Axes (duck-typed: plots and annotates, has no branch data)."""
    return hasattr(obj, "plot") and hasattr(obj, "annotate") and not hasattr(obj,
                                                                              "param_values")


def _plot_cycle(ax, ax_T, cyc, component, color, names=None) -> None:
    get = _component(component, getattr(cyc, "x_names", None) or names)
    xs = np.asarray(cyc.param_values)
    stable = np.asarray(getattr(cyc, "stable", np.ones(len(xs), bool)), dtype=bool)
    lo, hi = get(np.asarray(cyc.x_min)), get(np.asarray(cyc.x_max))
    name = getattr(cyc, "name", "cycles")
    _draw_line(ax, xs, hi, stable, color, f"{name} (max/min)")
    _draw_line(ax, xs, lo, stable, color)
    pts = getattr(cyc, "special_points", [])
    _label_points(ax, pts, xs, hi, color)
    if ax_T is not None:
        T = np.asarray(cyc.period)
        _draw_line(ax_T, xs, T, stable, color, name)
        _label_points(ax_T, pts, xs, T, color)


def _is_cycle(obj) -> bool:
    """A cycle branch: a Branch of a cycle kind, or a duck-typed object with a period."""
    flag = getattr(obj, "is_cycle", None)
    return bool(flag) if flag is not None else hasattr(obj, "period")


def _as_list(obj) -> list:
    if obj is None:
        return []
    if hasattr(obj, "param_values") or hasattr(obj, "x"):
        return [obj]
    return list(obj)


def bifurcation_diagram(branches=(), cycles=(), component=0, period_panel: bool | None = None,
                        title: str = "", xlabel: str | None = None,
                        ylabel: str | None = None) -> Figure:
    """One-parameter diagram of equilibrium and cycle branches (Branch objects of kind 'EP'
    and 'PO', given in either argument, or duck-typed cycles, see the module docstring).
    ``component``: state index, name, ``"norm"`` or a callable on a
    state vector.  With cycles a second panel shows period vs parameter (``period_panel``)."""
    items = _as_list(branches) + _as_list(cycles)
    branches = [b for b in items if not _is_cycle(b)]
    cycles = [b for b in items if _is_cycle(b)]
    period_panel = bool(cycles) if period_panel is None else period_panel
    fig = Figure(figsize=(10, 4.2) if period_panel else (6, 4.5), layout="constrained")
    ax = fig.add_subplot(1, 2, 1) if period_panel else fig.add_subplot(1, 1, 1)
    ax_T = fig.add_subplot(1, 2, 2) if period_panel else None
    for i, br in enumerate(branches):
        plot_branch(br, component=component, color=f"C{i % 10}", ax=ax)
    for j, cyc in enumerate(cycles):
        names = branches[0].x_names if branches else None
        _plot_cycle(ax, ax_T, cyc, component, f"C{(len(branches) + j) % 10}", names)
    ref = branches[0] if branches else (cycles[0] if cycles else None)
    if xlabel is None and ref is not None and hasattr(ref, "param_label"):
        xlabel = ref.param_label(0)
    if ylabel is None:
        names = getattr(ref, "x_names", None) if ref is not None else None
        if component == "norm":
            ylabel = "|x|"
        elif isinstance(component, str) or callable(component):
            ylabel = component if isinstance(component, str) else "observable"
        else:
            ylabel = names[int(component)] if names else f"x[{int(component)}]"
    ax.set_xlabel(xlabel or "parameter")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if branches or cycles:
        ax.legend(fontsize=8, loc="best")
    if ax_T is not None:
        ax_T.set_xlabel(xlabel or "parameter")
        ax_T.set_ylabel("period")
    return fig


def two_parameter_diagram(curves, title: str = "") -> Figure:
    """Two-parameter diagram of codim-1 curves (Branch objects of kind 'LP', 'H', 'LPC',
    'PD' from ``continue_fold``/``continue_hopf``/``continue_lpc``/``continue_pd``), with BT,
    CP, GH points labelled.  Also accepts objects with ``params`` (N, 2) and ``kind``."""
    curves = [curves] if hasattr(curves, "params") else list(curves)
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    seen: set[str] = set()
    for i, c in enumerate(curves):
        P = np.asarray(c.params)
        kind = getattr(c, "kind", "")
        color = _COLORS.get(kind, f"C{(i + 2) % 10}")
        label = {"LP": "fold (LP)", "H": "Hopf (H)", "LPC": "fold of cycles (LPC)",
                 "PD": "period doubling (PD)", "NS": "torus (NS)"}.get(
                     kind, kind or getattr(c, "name", ""))
        ax.plot(P[:, 0], P[:, 1], color=color, lw=1.6,
                label=label if label not in seen else None)
        seen.add(label)
        _label_points(ax, getattr(c, "special_points", []), P[:, 0], P[:, 1])
    ref = curves[0] if curves else None
    if ref is not None and hasattr(ref, "param_label"):
        ax.set_xlabel(ref.param_label(0))
        ax.set_ylabel(ref.param_label(1))
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(fontsize=8, loc="best")
    return fig
