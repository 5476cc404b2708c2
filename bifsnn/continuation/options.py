"""Options of the continuation engine: one object for equilibria, cycles and codim-1 curves."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["BUILTIN_EVENTS", "ContinuationOptions", "LOCATORS", "check_events",
           "emit_progress"]

#: Event names that need no ``record`` function (which branch kinds have which: see
#: ContinuationOptions).
BUILTIN_EVENTS = ("param", "param2", "period", "amplitude")


#: Methods that locate BP and BT/cusp/Bautin points, tried in the order given by
#: ``ContinuationOptions.locators`` (None: Newton on the minimally augmented system first,
#: regula falsi on the test function as the fallback).
LOCATORS = ("newton", "regula_falsi")


@dataclass
class ContinuationOptions:
    """Numerical options.

    Step control: ``ds`` initial arclength step, ``ds_min`` floor (below it the run stops with
    status ``"ds_min"``), ``ds_max`` ceiling, ``max_steps`` accepted steps.  ``direction``
    (+1/-1) orients the first step in the continuation parameter.  ``p_min``/``p_max`` bound
    the (first) continuation parameter; ``bounds`` maps further parameter indices or names to
    ``(lo, hi)`` (e.g. the second parameter of a codim-2 curve).

    Newton: ``newton_tol`` (on the step relative to 1+|u| and on the residual) and
    ``newton_max_iter``.  ``max_angle`` (radians) rejects steps whose tangent turns more.

    Bifurcations: with ``detect_bifurcations`` the number of unstable eigenvalues is counted at
    every point; a change triggers step splitting (at most ``max_bisections`` halvings) until
    each crossing is isolated, then the point is located (``locate``) to ``locate_tol``.
    Eigenvalues: ``eig_method`` ``"dense"`` (all eigenvalues), ``"sparse"`` (ARPACK
    shift-invert at 0 and at i*omega of the eigenvalues nearest the axis) or ``"auto"`` (dense
    for n <= ``dense_eig_max``).  ``n_eigs`` eigenvalues (largest real part first) are stored
    per point (None: all for dense, 12 for sparse).  ``compute_l1`` computes the first
    Lyapunov coefficient at Hopf points.  ``detect_codim2`` enables BT/cusp/Bautin detection on
    fold and Hopf curves.  ``locators``: the methods that locate BP and BT/cusp/Bautin points,
    tried in order, from :data:`LOCATORS` (None: Newton on the minimally augmented system,
    then regula falsi on the test function).

    ``both_sides``: continue in both directions from the start and merge the two runs into
    one branch (ordered from the ``-direction`` end to the ``+direction`` end).
    Cycles only: ``period_max`` stops a cycle branch whose period exceeds it (homoclinic
    approach), ``locate_max_iter`` bounds the regula-falsi iterations that locate LPC/PD/NS
    points; the discretisation is a separate :class:`~bifsnn.continuation.periodic.Collocation`.

    User functions (every branch kind): ``record`` maps names to functions ``g(x, p)`` ->
    float recorded at every row in ``branch.extra[name]`` (e.g. firing rates along a branch);
    on cycle branches and on curves of cycle bifurcations (LPC, PD, NS) ``x`` is the whole
    cycle, a :class:`~bifsnn.continuation.periodic.CycleSolution` (mesh, node values ``U``,
    period ``T``).  ``events`` maps a recorded name, or a built-in one, to a value (or a sequence of
    values): where the function crosses it a point labelled "UZ" is located (regula falsi
    along the curve, as AUTO's UZR), with ``data['event']`` and ``data['value']``; with
    ``stop_at_events`` the run stops at the first one.  Built-in names: ``"param"`` (the first
    continuation parameter), ``"param2"`` (the second, on two-parameter curves),
    ``"period"`` and ``"amplitude"`` (cycle branches and LPC/PD/NS curves).

    ``progress``: False (quiet, the default: library code never prints unless asked), True
    (one line per step of a cycle or codim-2 continuation on stderr) or a callable receiving
    a dict per step (``kind``, ``step``, ``param`` or ``params``, ``ds``, ``points``, and
    ``period``/``amplitude``/``stable`` on cycle branches); on cycle branches the callable
    may raise ``StopIteration`` to end the run after that step (status "stopped", success
    True, message "stopped by the progress function"), as in scipy's callbacks.

    Every field is validated on construction (``ValueError`` naming the field and its range).
    ``direction`` is +1 (increasing first parameter) or -1, the same on every kind of branch.
    """

    ds: float = 1e-2
    ds_min: float = 1e-7
    ds_max: float = 1e-1
    max_steps: int = 500
    p_min: float = -np.inf
    p_max: float = np.inf
    bounds: dict = field(default_factory=dict)
    direction: int = 1
    newton_tol: float = 1e-9
    newton_max_iter: int = 10
    max_angle: float | None = 0.6
    detect_bifurcations: bool = True
    locate: bool = True
    locate_tol: float = 1e-9
    max_bisections: int = 10
    n_eigs: int | None = None
    eig_method: str = "auto"
    dense_eig_max: int = 400
    compute_l1: bool = True
    detect_codim2: bool = True
    weights_param: float = 1.0
    locators: tuple[str, ...] | None = None
    both_sides: bool = False
    period_max: float = np.inf
    locate_max_iter: int = 12
    record: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)
    stop_at_events: bool = False
    verbose: bool = False
    progress: bool | Callable[[dict], None] = False

    def __post_init__(self) -> None:
        _positive(self, "ds_min", "ds_max", "newton_tol", "locate_tol", "weights_param")
        _positive(self, "ds", hint=" (use direction=-1 to go backwards)")
        if not self.ds_min <= self.ds_max:
            raise ValueError(f"ds_min = {self.ds_min!r} is out of range: must be <= ds_max = "
                             f"{self.ds_max!r}")
        for name in ("p_min", "p_max", "period_max"):
            v = getattr(self, name)
            if not isinstance(v, int | float | np.floating | np.integer) or math.isnan(v):
                raise ValueError(f"{name} = {v!r} is out of range: must be a number "
                                 "(+-inf for no bound)")
        if not self.p_min < self.p_max:
            raise ValueError(f"p_min = {self.p_min!r} is out of range: must be < p_max = "
                             f"{self.p_max!r}")
        if not self.period_max > 0:
            raise ValueError(f"period_max = {self.period_max!r} is out of range: must be > 0")
        if isinstance(self.direction, bool) or self.direction not in (1, -1):
            raise ValueError(f"direction = {self.direction!r} is out of range: must be +1 "
                             "(increasing parameter) or -1 (decreasing)")
        self.direction = int(self.direction)
        _integer(self, "max_steps", 1)
        _integer(self, "newton_max_iter", 1)
        _integer(self, "max_bisections", 0)
        _integer(self, "locate_max_iter", 1)
        _integer(self, "dense_eig_max", 1)
        if self.n_eigs is not None:
            _integer(self, "n_eigs", 1)
        if self.max_angle is not None and not (
                _is_real(self.max_angle) and 0 < self.max_angle <= math.pi):
            raise ValueError(f"max_angle = {self.max_angle!r} is out of range: must be None or "
                             "in (0, pi] (radians)")
        if not isinstance(self.bounds, dict):
            raise ValueError(f"bounds = {self.bounds!r} is out of range: must be a dict "
                             "{parameter: (lo, hi)}")
        for key, val in self.bounds.items():
            try:
                lo, hi = (float(v) for v in val)
            except (TypeError, ValueError):
                lo = hi = math.nan
            if math.isnan(lo) or math.isnan(hi) or not lo < hi:
                raise ValueError(f"bounds[{key!r}] = {val!r} is out of range: must be (lo, hi) "
                                 "with lo < hi (+-inf for no bound)")
        self.bounds = {key: (float(val[0]), float(val[1])) for key, val in self.bounds.items()}
        if self.eig_method not in ("auto", "dense", "sparse"):
            raise ValueError(f"eig_method = {self.eig_method!r} is out of range: must be "
                             "'auto', 'dense' or 'sparse'")
        if not isinstance(self.record, dict) or not all(
                isinstance(k, str) and callable(v) for k, v in self.record.items()):
            raise ValueError(f"record = {self.record!r} is out of range: must be a dict "
                             "{name: g(x, p) -> float}")
        if not isinstance(self.events, dict):
            raise ValueError(f"events = {self.events!r} is out of range: must be a dict "
                             "{recorded name or 'param': value(s)}")
        for key, val in self.events.items():
            if key not in BUILTIN_EVENTS and key not in self.record:
                raise ValueError(f"events[{key!r}] is out of range: the key must be one of "
                                 f"{BUILTIN_EVENTS} or a name in record {tuple(self.record)}")
            vals = np.atleast_1d(np.asarray(val, dtype=float))
            if vals.size == 0 or not np.all(np.isfinite(vals)):
                raise ValueError(f"events[{key!r}] = {val!r} is out of range: must be finite "
                                 "number(s)")
        self.events = {k: tuple(float(v) for v in np.atleast_1d(np.asarray(val, dtype=float)))
                       for k, val in self.events.items()}
        if not (isinstance(self.progress, bool) or callable(self.progress)):
            raise ValueError(f"progress = {self.progress!r} is out of range: must be True, "
                             "False or a callable receiving a dict per step")
        if self.locators is not None:
            self.locators = tuple(self.locators)
            bad = [m for m in self.locators if m not in LOCATORS]
            if bad or not self.locators:
                raise ValueError(f"locators = {self.locators!r} is out of range: must be a "
                                 f"non-empty sequence of {LOCATORS}")

    def check_start(self, value: float, label: str = "parameter") -> None:
        """Raise ValueError when a start value lies outside [p_min, p_max]."""
        if not self.p_min <= value <= self.p_max:
            raise ValueError(f"start {label} = {value!r} is outside [p_min, p_max] = "
                             f"[{self.p_min!r}, {self.p_max!r}]")

    def with_(self, **changes) -> ContinuationOptions:
        """A validated copy with some fields changed."""
        return replace(self, **changes)


def check_events(opts: ContinuationOptions, allowed: tuple[str, ...], kind: str) -> None:
    """Raise ValueError (before any work) when ``opts.events`` uses a built-in name that a
    ``kind`` branch does not have."""
    for key in opts.events:
        if key in BUILTIN_EVENTS and key not in opts.record and key not in allowed:
            raise ValueError(f"events[{key!r}] is out of range: a {kind} branch has the "
                             f"built-in events {allowed} (or names in record)")


def emit_progress(opts: ContinuationOptions, info: dict) -> None:
    """Report one step to ``opts.progress``: nothing when False, one line on stderr when
    True, else call it with ``info``."""
    prog = opts.progress
    if prog is False or prog is None:
        return
    if callable(prog):
        prog(dict(info))
        return
    import sys

    parts = [f"{info.get('kind', '?')} step {info.get('step', '?')}:"]
    if "params" in info:
        parts.append("params = (" + ", ".join(f"{v:.6g}" for v in info["params"]) + ")")
    elif "param" in info:
        parts.append(f"p = {info['param']:.6g}")
    for key in ("period", "amplitude", "ds"):
        if key in info:
            parts.append(f"{key} = {info[key]:.4g}")
    if "points" in info:
        parts.append(f"{info['points']} points")
    print(" ".join(parts), file=sys.stderr, flush=True)


def _is_real(v) -> bool:
    return isinstance(v, int | float | np.floating | np.integer) and not isinstance(v, bool) \
        and math.isfinite(v)


def _positive(opts, *names: str, hint: str = "") -> None:
    for name in names:
        v = getattr(opts, name)
        if not (_is_real(v) and v > 0):
            raise ValueError(f"{name} = {v!r} is out of range: must be a finite number > 0{hint}")


def _integer(opts, name: str, lo: int) -> None:
    v = getattr(opts, name)
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise ValueError(f"{name} = {v!r} is out of range: must be an integer >= {lo}")
