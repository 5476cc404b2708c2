"""Point execution: a pluggable dispatch table model kind -> point function.

A *point function* has the signature of :func:`bifsnn.network.snn.simulate_snn`::

    fn(params: NetworkParams, *, t_ms: float, seed: int, progress: bool, **options)

and returns either a :class:`~bifsnn.network.results.SimulationResult` (observables are then
computed with :func:`bifsnn.network.observables.summary`) or a mapping of observables directly
(keys as in ``summary``: ``rate_e_hz``, ``ssi_e``, ``peak_heights``, ...), which lets tests
inject fast or deliberately failing points.  Table entries are callables (picklable, i.e.
module-level, for process and Dask backends) or ``"module:function"`` strings, imported in
the worker.

:func:`execute_point` never raises for a failing point: it returns a record with
``status = "error"`` and the error message, so a sweep goes on past bad points.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.network.observables import delta_m_histogram, peak_differences
from bifsnn.network.params import NetworkParams
from bifsnn.sweeps.classify import (
    RegimeThresholds,
    classify_regime,
    delta_m_stats,
    synchrony_ratio,
)
from bifsnn.sweeps.spec import OBSERVABLE_GROUPS, SweepPoint

__all__ = [
    "DEFAULT_RUNNERS",
    "PointFunction",
    "RunnerTable",
    "check_runners",
    "execute_point",
    "observables_from_result",
    "resolve_runner",
    "runner_table",
    "validate_point_options",
    "warmup_runners",
]

PointFunction = Callable[..., Any]
RunnerTable = Mapping[str, "PointFunction | str"]

#: Default dispatch table.  ``map`` and ``ode`` wrap ``bifsnn.reduction.integrate`` (options
#: of those kinds are MarkovModelDef fields plus integrator keywords).
DEFAULT_RUNNERS: dict[str, str] = {
    "snn": "bifsnn.network.snn:simulate_snn",
    "markov": "bifsnn.network.markov:simulate_markov",
    "map": "bifsnn.sweeps.runners:simulate_map",
    "ode": "bifsnn.sweeps.runners:simulate_ode",
}


def runner_table(overrides: RunnerTable | None = None) -> dict[str, PointFunction | str]:
    """The default table with ``overrides`` applied (keys are model kinds, see MODEL_KINDS)."""
    table: dict[str, PointFunction | str] = dict(DEFAULT_RUNNERS)
    if overrides:
        table.update(overrides)
    return table


def resolve_runner(entry: PointFunction | str) -> PointFunction:
    """A callable from a table entry (``"pkg.module:function"`` strings are imported)."""
    if callable(entry):
        return entry
    if not isinstance(entry, str) or ":" not in entry:
        raise ValueError(f"runner {entry!r} must be a callable or a 'module:function' string")
    module_name, attr = entry.split(":", 1)
    module = importlib.import_module(module_name)
    try:
        fn = getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"runner {entry!r}: module {module_name} has no {attr!r}") from exc
    return fn


#: MarkovModelDef fields a map/ode point accepts in its options (the rest go to the
#: integrator: ``rate_lag``, ``record_every_ms`` for the map; ``integrator``, ``method``,
#: ``rtol``, ``atol``, ``record_every_ms``, ``max_steps`` for the ODE).
_DEF_FIELDS = ("dv", "v_min", "bin_rule", "eps", "h_min", "delta", "h", "outflow", "sigma_floor")
_MAP_KW = ("rate_lag", "record_every_ms")
_ODE_KW = ("integrator", "method", "rtol", "atol", "record_every_ms", "max_steps")


def _reduced_definition(params: NetworkParams, options: Mapping[str, Any],
                        integrator_kw: tuple[str, ...], kind: str) -> tuple[Any, dict[str, Any]]:
    """(MarkovModelDef, integrator kwargs) from a point's options; unknown names raise."""
    try:
        from bifsnn.reduction.model import MarkovModelDef
    except ImportError as exc:
        raise ImportError(f"the {kind} model needs bifsnn.reduction: {exc}") from exc
    unknown = sorted(set(options) - set(_DEF_FIELDS) - set(integrator_kw))
    if unknown:
        raise ValueError(
            f"options.{kind}: unknown option(s) {unknown}; allowed: model definition "
            f"{list(_DEF_FIELDS)} and integrator {list(integrator_kw)}"
        )
    d = MarkovModelDef(params=params, **{k: v for k, v in options.items() if k in _DEF_FIELDS})
    return d, {k: v for k, v in options.items() if k in integrator_kw}


_COMPILED: dict[Any, Any] = {}


def _compiled(definition: Any) -> Any:
    """ReducedModel of a definition, cached per process (compiling costs ~0.1-1 s)."""
    model = _COMPILED.get(definition)
    if model is None:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        model = _COMPILED[definition] = definition.compile()
    return model


def _check_success(result: Any, kind: str) -> Any:
    """Raise on a reported numerical failure; zero round-off negatives in expected counts.

    The ODE's per-step counts are differences of a cumulative integral, so they can be
    -1e-47-ish where the rate is ~0; ``observables.summary`` rejects any negative count.
    Negatives down to -1e-9 spikes per step are set to 0; larger ones are left to fail.
    """
    opts = getattr(result, "options", {}) or {}
    if opts.get("success") is False:
        raise RuntimeError(f"{kind} integration failed: {opts.get('message', 'no message')}")
    for name in ("spike_counts_e", "spike_counts_i"):
        arr = np.asarray(getattr(result, name), dtype=float)
        if arr.size and arr.min() < 0:
            setattr(result, name, np.where((arr < 0) & (arr >= -1e-9), 0.0, arr))
    return result


def simulate_map(params: NetworkParams, *, t_ms: float, seed: int = 0, progress: bool = False,
                 **options: Any) -> Any:
    """Iterate the reference map (``bifsnn.reduction.integrate.simulate_map``); deterministic,
    ``seed`` is only recorded.  A numerical failure raises, so the point is recorded failed."""
    from bifsnn.reduction.integrate import simulate_map as run

    d, kw = _reduced_definition(params, options, _MAP_KW, "map")
    return _check_success(run(_compiled(d), t_ms=t_ms, **kw), "map")


def simulate_ode(params: NetworkParams, *, t_ms: float, seed: int = 0, progress: bool = False,
                 **options: Any) -> Any:
    """Integrate the reduced ODE (``bifsnn.reduction.integrate.simulate_ode``); deterministic,
    ``seed`` is only recorded.  A numerical failure raises, so the point is recorded failed."""
    from bifsnn.reduction.integrate import simulate_ode as run

    d, kw = _reduced_definition(params, options, _ODE_KW, "ode")
    return _check_success(run(_compiled(d), t_ms=t_ms, **kw), "ode")


def _reduction_available() -> None:
    import bifsnn.reduction.integrate  # noqa: F401
    import bifsnn.reduction.model  # noqa: F401


simulate_map.available = _reduction_available  # type: ignore[attr-defined]
simulate_ode.available = _reduction_available  # type: ignore[attr-defined]
simulate_map.validate = lambda params, options: _reduced_definition(  # type: ignore[attr-defined]
    params, options, _MAP_KW, "map")
simulate_ode.validate = lambda params, options: _reduced_definition(  # type: ignore[attr-defined]
    params, options, _ODE_KW, "ode")


def validate_point_options(points: list[SweepPoint], runners: RunnerTable | None = None) -> None:
    """Check every distinct (model, params, options) combination before any work: option names
    against the runner's signature (or its ``validate(params, options)`` hook, which also
    checks value ranges).  Raises ValueError naming the model kind and the option."""
    table = runner_table(runners)
    seen: set[str] = set()
    for p in points:
        tag = f"{p.model}|{p.params!r}|{sorted(p.options.items())!r}"
        if tag in seen:
            continue
        seen.add(tag)
        fn = resolve_runner(table[p.model])
        hook = getattr(fn, "validate", None)
        try:
            if callable(hook):
                hook(p.params, dict(p.options))
                continue
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            if callable(hook):
                raise ValueError(f"options.{p.model}: {exc}") from exc
            continue  # no introspectable signature: the point will report problems
        if any(q.kind is inspect.Parameter.VAR_KEYWORD for q in sig.parameters.values()):
            continue
        unknown = sorted(set(p.options) - set(sig.parameters))
        if unknown:
            allowed = sorted(set(sig.parameters) - {"params", "t_ms", "seed", "progress"})
            raise ValueError(
                f"options.{p.model}: unknown option(s) {unknown} for the {p.model} runner; "
                f"allowed: {allowed}"
            )


def check_runners(kinds: list[str], runners: RunnerTable | None = None) -> None:
    """Resolve the runner of every kind in the driver; raise ImportError naming the kind if
    one is unavailable (so a sweep fails before any work instead of at every point)."""
    table = runner_table(runners)
    for kind in kinds:
        if kind not in table:
            raise ImportError(f"no runner for model kind {kind!r}; known: {sorted(table)}")
        try:
            fn = resolve_runner(table[kind])
            if callable(getattr(fn, "available", None)):
                fn.available()
        except ImportError as exc:
            raise ImportError(f"model kind {kind!r}: runner unavailable: {exc}") from exc


_WARMED: set[str] = set()


def _entry_tag(entry: PointFunction | str) -> str:
    """Stable name of a table entry (the same after pickling to another process)."""
    if isinstance(entry, str):
        return entry
    obj = entry if hasattr(entry, "__qualname__") else type(entry)
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def warmup_runners(kinds: list[str], runners: RunnerTable | None = None) -> list[str]:
    """Compile/import what each model kind needs, once per process (worker initializer).

    Built-in runners are called on a tiny network for 2 ms, which triggers numba compilation
    (or loads it from numba's cache), and the observables are computed
    once (importing scipy.signal); custom runners are only imported, and their ``warmup()``
    attribute is called if they have one.  Errors are swallowed here:
    the real point will fail and record them.  Returns the kinds warmed in this call.
    """
    table = runner_table(runners)
    done = []
    for kind in kinds:
        if kind not in table:
            continue
        entry = table[kind]
        tag = f"{kind}={_entry_tag(entry)}"
        if tag in _WARMED:
            continue
        try:
            fn = resolve_runner(entry)
            if entry == DEFAULT_RUNNERS.get(kind):
                res = fn(NetworkParams(N_E=8, N_I=4), t_ms=2.0, seed=0, progress=False)
                observables_from_result(res, 0.0)  # imports scipy.signal (~1 s) up front
            elif callable(getattr(fn, "warmup", None)):
                fn.warmup()
        except Exception:  # noqa: BLE001 - the point itself will report the problem
            _WARMED.add(tag)  # do not retry a failing warm-up at every point
            continue
        _WARMED.add(tag)
        done.append(kind)
    return done


def _to_float(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def observables_from_result(result: Any, transient_ms: float) -> dict[str, Any]:
    """``bifsnn.network.observables.summary`` of a SimulationResult (lists kept, None -> NaN)."""
    from bifsnn.network.observables import summary

    return summary(result, transient_ms=transient_ms)


def _or_empty(v: Any) -> Any:
    return [] if v is None else v


def derive_observables(
    raw: Mapping[str, Any], groups: tuple[str, ...], thresholds: RegimeThresholds,
    params: NetworkParams | None = None,
) -> dict[str, Any]:
    """The variables of the requested observable ``groups`` from a summary-like mapping
    (``N_E`` and ``dt_ms`` for the synchrony ratio come from ``raw`` or else ``params``)."""
    params = params or NetworkParams()
    heights = np.asarray(_or_empty(raw.get("peak_heights")), dtype=float).ravel()
    intervals = np.asarray(_or_empty(raw.get("peak_intervals_ms")), dtype=float).ravel()
    stats = delta_m_stats(heights, intervals)
    values: dict[str, Any] = {
        "rate_e_hz": _to_float(raw.get("rate_e_hz")),
        "rate_i_hz": _to_float(raw.get("rate_i_hz")),
        "ssi_e": _to_float(raw.get("ssi_e")),
        "ssi_i": _to_float(raw.get("ssi_i")),
        "ssi_e_ratio": synchrony_ratio(raw.get("ssi_e"), raw.get("rate_e_hz"),
                                       raw.get("N_E", params.N_E), raw.get("dt_ms", params.dt)),
        "spectral_peak_hz": _to_float(raw.get("spectral_peak_hz")),
        **stats,
    }
    out: dict[str, Any] = {}
    for g in groups:
        for name in OBSERVABLE_GROUPS[g]:
            if name == "delta_m_hist":
                hist = delta_m_histogram(peak_differences(heights))
                out[name] = [float(x) for x in hist.fraction]
            elif name == "regime":
                out[name] = classify_regime(
                    {"ssi_e_ratio": values["ssi_e_ratio"], "peak_heights": heights,
                     "peak_intervals_ms": intervals},
                    thresholds,
                )
            else:
                out[name] = values[name]
    return out


def execute_point(
    point: SweepPoint,
    *,
    runners: RunnerTable | None = None,
    transient_ms: float = 100.0,
    observables: tuple[str, ...] = ("rates", "ssi", "spectral_peak", "delta_m", "regime"),
    classifier: Mapping[str, Any] | None = None,
    spikes_dir: str | None = None,
) -> dict[str, Any]:
    """Run one point and return its record (never raises for a failing point).

    The record holds the point's key, index, coords, model, seed, t_ms, full parameters, the
    requested observables, ``status`` ("ok" or "error"), ``error`` (message and traceback
    tail), ``elapsed_s``, host, pid and package version.  With ``spikes_dir`` a returned
    SimulationResult is also saved there as ``<key>.h5``.  The kind's runner is warmed up
    (once per process) before the clock starts.
    """
    from bifsnn._version import __version__

    warmup_runners([point.model], runners)
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "key": point.key,
        "index": point.index,
        "coords": point.coords,
        "model": point.model,
        "seed": point.seed,
        "t_ms": point.t_ms,
        "params": point.params.to_dict(),
        "options": point.options,
        "version": __version__,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    try:
        table = runner_table(runners)
        if point.model not in table:
            raise KeyError(f"no runner for model kind {point.model!r}; known: {sorted(table)}")
        fn = resolve_runner(table[point.model])
        result = fn(point.params, t_ms=point.t_ms, seed=point.seed, progress=False,
                    **point.options)
        if isinstance(result, Mapping):
            raw = dict(result)
        else:
            raw = observables_from_result(result, transient_ms)
            if spikes_dir is not None:
                spikes_path = Path(spikes_dir) / f"{point.key}.h5"
                result.save(spikes_path)
                record["spikes_file"] = spikes_path.name
        record["observables"] = derive_observables(
            raw, observables, RegimeThresholds(**dict(classifier or {})), point.params
        )
        record["status"] = "ok"
        record["error"] = ""
    except Exception as exc:  # noqa: BLE001 - a failing point is data, not a crash
        tb = traceback.format_exc(limit=6)
        record["status"] = "error"
        record["error"] = f"{type(exc).__name__}: {exc}\n{tb}"
        record["observables"] = {}
    record["elapsed_s"] = time.perf_counter() - t0
    return record
