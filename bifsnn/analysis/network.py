"""Network bifurcation analysis: the reduced ODE continued in one network parameter, every
prediction checked against spiking (and Markov-model) runs with a verdict.

``NetworkParams`` -> ``MarkovModelDef`` (reduction) -> equilibria (Hopf, fold, branch points)
-> the cycle from the first Hopf point (or every Hopf point) -> the period-doubled cycle from
its PD point -> Delta m diagrams of the SNN and of the ODE over ``n_scan`` values ->
:func:`bifsnn.analysis.verify.verify` (test values, seeds, verdicts, boundaries, dt/2).

The continuation objects are turned into records (:mod:`bifsnn.analysis.verify`) in
:func:`_records`, the only place that reads branch internals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from bifsnn.analysis.verify import (
    BranchRecord,
    Prediction,
    SpecialPointRecord,
    Trace,
    Verification,
    VerifyOptions,
    observe,
    planned_runs,
    verify,
)
from bifsnn.network.params import NetworkParams, ParameterError

__all__ = ["AnalysisOptions", "DEFAULT_RANGES", "NOTHING_VERIFIED", "NetworkAnalysis",
           "analyse_network", "default_range"]

#: Status of an analysis whose branches are complete but that made no checkable prediction
#: (no special point, no stable branch in the range): not a success.
NOTHING_VERIFIED = "nothing verified"

#: Default continuation range of every parameter that has one (others need ``p_range``).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "p_EI": (0.4, 1.0), "p_EE": (0.4, 1.0), "p_IE": (0.4, 1.0), "p_II": (0.4, 1.0),
    "tau_EE": (1.0, 4.0), "tau_IE": (0.8, 3.0), "lambda_ext": (4.0, 12.0),
}


def default_range(param: str) -> tuple[float, float]:
    """The default range of ``param``; ParameterError if it has none."""
    if param not in DEFAULT_RANGES:
        raise ParameterError(f"param = {param!r} has no default range: give p_range "
                             f"(--range LO HI); defaults exist for {sorted(DEFAULT_RANGES)}")
    return DEFAULT_RANGES[param]


@dataclass
class AnalysisOptions:
    """Sizes of the job. Defaults: the main job (about 3 min on 2 cores); :meth:`full`: the
    long version (more values and seeds, cycles from every Hopf point, whole range)."""

    n_scan: int = 41
    scan_seeds: tuple[int, ...] = (0, 1)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    t_ms: float = 1500.0
    cycles: str = "first"  # "none", "first" (first Hopf point), "all"
    period_doubling: bool = True
    cycle_steps: int = 55
    pd_steps: int = 48
    until_unstable: bool = True  # cycle branches stop 2 side distances after losing stability
    ntst: int = 20  # the period-doubled cycle gets twice as many intervals
    max_steps: int = 400
    workers: int = 2
    ode_t_ms: float = 800.0
    ode_integrations: int = 12  # at most this many ODE runs where no stable branch is known

    @classmethod
    def full(cls) -> AnalysisOptions:
        """The long version: 81 values, 3 scan seeds, 4 verification seeds, 3 s runs, cycles
        from every Hopf point continued over the whole range, 6 bisection steps."""
        return cls(n_scan=81, scan_seeds=(0, 1, 2), t_ms=3000.0, cycles="all",
                   cycle_steps=200, pd_steps=120, until_unstable=False, ntst=40,
                   verify=VerifyOptions(seeds=(0, 1, 2, 3), n_along=5, bisect_steps=6))

    def validate(self) -> None:
        """Raise ParameterError naming the first bad option."""
        if not (isinstance(self.n_scan, int) and self.n_scan >= 0):
            raise ParameterError(f"n_scan = {self.n_scan!r} must be an integer >= 0")
        if self.cycles not in ("none", "first", "all"):
            raise ParameterError(f"cycles = {self.cycles!r} must be 'none', 'first' or 'all'")
        if not (self.t_ms > self.verify.transient_ms + 100):
            raise ParameterError(f"t_ms = {self.t_ms!r} must exceed the transient "
                                 f"({self.verify.transient_ms:g} ms) by >= 100 ms")
        if not (isinstance(self.ode_integrations, int) and self.ode_integrations >= 0):
            raise ParameterError(f"ode_integrations = {self.ode_integrations!r} must be an "
                                 "integer >= 0")
        for name in ("cycle_steps", "pd_steps", "max_steps", "workers", "ntst"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise ParameterError(f"{name} = {v!r} must be an integer >= 1")
        if not self.scan_seeds:
            raise ParameterError("scan_seeds must not be empty")
        try:
            self.verify.validate()
        except ValueError as exc:
            raise ParameterError(str(exc)) from None


# ------------------------------------------------------------------------ simulators
def _trace(result: Any) -> Trace:
    p = result.params
    dt = float(result.dt_ms)
    k = 1000.0 / dt
    sampled = getattr(result, "model", "") in ("snn", "markov")
    return Trace(np.asarray(result.spike_counts_e, float) * k / p.N_E,
                 np.asarray(result.spike_counts_i, float) * k / p.N_I, dt,
                 p.N_E if sampled else None)


def params_at(params: NetworkParams, param: str, value: float, **extra: Any) -> NetworkParams:
    """``params`` with ``param = value`` (whole neurons when N_E / N_I is the parameter)."""
    return params.replace(**{param: round(value) if param in ("N_E", "N_I") else value}, **extra)


def _start_state(p: NetworkParams, start: Any, bin_rule: str, seed: int,
                 closure: str = "paper") -> Any:
    """The network state of the reduced state vector ``start`` (None: the default start)."""
    if start is None:
        return None
    from bifsnn.network.states import state_from_reduced
    from bifsnn.reduction import MarkovModelDef

    return state_from_reduced(MarkovModelDef(p, bin_rule=bin_rule, closure=closure),
                              np.asarray(start, float), seed=seed)


def snn_trace(params: NetworkParams, param: str, t_ms: float, value: float, seed: int,
              dt_scale: float = 1.0, *, start: Any = None, bin_rule: str = "smooth",
              closure: str = "paper") -> Trace:
    """SNN run at ``param = value`` (time step ``dt * dt_scale``) as a Trace; ``start``: a
    reduced-model state vector (of the ``bin_rule`` / ``closure`` model) to start the network
    from (see :func:`bifsnn.network.states.state_from_reduced`), None for the default start."""
    from bifsnn.network.snn import simulate_snn

    p = params_at(params, param, value, dt=params.dt * dt_scale)
    return _trace(simulate_snn(p, t_ms=t_ms, seed=seed, progress=False,
                               initial_state=_start_state(p, start, bin_rule, seed, closure)))


def markov_trace(params: NetworkParams, param: str, t_ms: float, value: float, seed: int,
                 dt_scale: float = 1.0, *, start: Any = None, bin_rule: str = "smooth",
                 closure: str = "paper") -> Trace:
    """Markov-model run at ``param = value`` as a Trace (``start`` as for :func:`snn_trace`)."""
    from bifsnn.network.markov import simulate_markov

    p = params_at(params, param, value, dt=params.dt * dt_scale)
    return _trace(simulate_markov(p, t_ms=t_ms, seed=seed, progress=False,
                                  initial_state=_start_state(p, start, bin_rule, seed, closure)))


def _ode_observe(params: NetworkParams, bin_rule: str, closure: str, param: str, value: float,
                 x0: np.ndarray, t_ms: float, opts: VerifyOptions) -> dict[str, Any]:
    """ODE time integration at one value (used where no stable branch was continued)."""
    from bifsnn.reduction import MarkovModelDef, simulate_ode

    model = MarkovModelDef(params.replace(**{param: value}), bin_rule=bin_rule,
                           closure=closure).compile()
    x0 = x0 + 1e-3 * np.abs(x0) * np.sin(np.arange(x0.size))
    res = simulate_ode(model, t_ms=t_ms, x0=x0, rtol=1e-5, atol=1e-7, record_every_ms=params.dt)
    return observe(_trace(res), opts)


# ------------------------------------------------------------------------ result
@dataclass
class NetworkAnalysis:
    """Result of :func:`analyse_network`.  ``status``: "completed", "stopped early" (a branch
    ended before its target), "nothing verified" (no special point and no stable branch in
    the range: no prediction to check) or "failed"; ``success`` is True only for
    "completed"."""

    params: NetworkParams
    param: str
    p_range: tuple[float, float]
    bin_rule: str
    options: AnalysisOptions
    equilibria: list[Any]
    cycles: list[Any]
    branches: list[BranchRecord]
    special: list[SpecialPointRecord]
    scan_values: list[float]
    snn_delta_m: list[list[float]]
    ode_delta_m: list[list[float] | None]  # None: ODE attractor unknown there
    ode_delta_m_source: list[str]
    verification: Verification | None
    eq_curves: list[dict[str, np.ndarray]]
    cycle_curves: list[dict[str, Any]]
    status: str
    messages: list[str]
    timings_s: dict[str, float] = field(default_factory=dict)
    predict: Callable[[float], list[Prediction]] | None = field(default=None, repr=False)
    closure: str = "paper"

    @property
    def success(self) -> bool:
        """True only when every branch reached its target and predictions were checked."""
        return self.status == "completed"

    @property
    def message(self) -> str:
        """What went wrong, joined; 'completed' when nothing did."""
        return "; ".join(self.messages) if self.messages else "completed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: status, branches, special points, verdicts, boundaries."""
        from dataclasses import asdict

        ver = self.verification.to_dict() if self.verification else {}
        return {
            "param": self.param, "p_range": list(self.p_range), "bin_rule": self.bin_rule,
            "closure": self.closure,
            "status": self.status, "success": self.success, "message": self.message,
            "units": "rates and Delta m in Hz per neuron; periods in ms",
            "branches": [asdict(b) for b in self.branches],
            "special_points": [asdict(s) for s in self.special],
            "summary": ver.get("summary"),
            "verdicts": ver.get("verdicts", []),
            "boundaries": ver.get("boundaries", []),
            "dt_control": ver.get("dt_control", []),
            "thresholds": ver.get("thresholds"),
            "delta_m_diagram": {"values": self.scan_values, "snn": self.snn_delta_m,
                                "ode": self.ode_delta_m, "ode_source": self.ode_delta_m_source},
            "options": {k: v for k, v in asdict(self.options).items() if k != "verify"},
            "timings_s": self.timings_s, "params": self.params.to_dict(),
        }

    def report_markdown(self) -> str:
        """The report: special points, one verdict table per branch, boundaries."""
        from bifsnn.analysis.report import report_markdown

        return report_markdown(self)

    def save(self, out_dir: Any, *, plots: bool = True) -> Any:
        """Write ``analysis.json``, ``report.md``, ``params.toml`` and the diagram."""
        import json
        from pathlib import Path

        from bifsnn._files import atomic_write_text, json_default

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "analysis.json", json.dumps(
            _finite(self.to_dict()), indent=1, default=json_default) + "\n")
        atomic_write_text(out / "report.md", self.report_markdown())
        self.params.save_toml(out / "params.toml")
        if plots:
            from bifsnn.analysis.report import plot_analysis

            plot_analysis(self, out / "bifurcation_diagram")
        return out


def _finite(x: Any) -> Any:
    """NaN/inf -> None, recursively (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def check_range(params: NetworkParams, param: str,
                p_range: Sequence[float] | None) -> tuple[float, float]:
    """The validated (lo, hi) of ``param`` (its default range if None); ParameterError names
    the problem: a parameter that cannot be continued, a bad range, end points out of range."""
    from bifsnn.reduction import PARAM_INDEX

    if param not in PARAM_INDEX or param not in NetworkParams.field_names():
        allowed = sorted(set(PARAM_INDEX) & set(NetworkParams.field_names()))
        raise ParameterError(f"param = {param!r} cannot be continued: one of {allowed}")
    if p_range is None:
        p_range = default_range(param)
    if len(p_range) != 2 or not p_range[0] < p_range[1]:
        raise ParameterError(f"p_range = {tuple(p_range)!r} must be two increasing numbers")
    for v in p_range:  # validates the end points through NetworkParams' rules
        params.replace(**{param: v})
    return float(p_range[0]), float(p_range[1])


#: What each worker compiles while the main process starts (see :func:`_precompile`).
_WARM_PARTS: tuple[tuple[str, ...], ...] = (("jacobian", "dfdp"), ("taylor",))


def _precompile(definition: Any, parts: tuple[str, ...]) -> None:
    """Compile parts of a reduced model's generated code into the on-disk cache (runs in a
    worker process)."""
    definition.compile().precompile(parts)


class _Pool:
    """A process pool (or serial fallback) whose map logs progress."""

    def __init__(self, workers: int, say: Callable[[str], None]):
        self.ex = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        self.say = say

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self.ex is not None:
            return self.ex.submit(fn, *args)
        f: Future = Future()
        f.set_result(fn(*args))
        return f

    def map(self, fn: Callable[..., Any], args: list[tuple]) -> list[Any]:
        futs = [self.submit(fn, *a) for a in args]
        out, step = [], max(1, len(futs) // 4)
        for i, f in enumerate(futs, 1):
            out.append(f.result())
            if len(futs) >= 8 and i % step == 0:
                self.say(f"  runs {i}/{len(futs)} done")
        return out

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown(cancel_futures=True)


def analyse_network(
    params: NetworkParams | None = None,
    param: str = "p_EI",
    p_range: Sequence[float] | None = None,
    *,
    bin_rule: str = "smooth",
    closure: str = "paper",
    options: AnalysisOptions | None = None,
    log: Callable[[str], None] | None = print,
) -> NetworkAnalysis:
    """Continue the reduced ODE (closure ``closure``, default the paper's) in ``param`` over
    ``p_range`` (default: the parameter's own range), draw the SNN's and the ODE's Delta m
    diagrams and verify every prediction.  Bad input raises ParameterError before any work;
    numerical trouble ends in ``status``."""
    from bifsnn.analysis.verify import _run_one
    from bifsnn.reduction.equilibria import find_equilibrium, time_averaged_state
    from bifsnn.reduction.model import CLOSURES, PARAM_INDEX, MarkovModelDef

    params = NetworkParams() if params is None else params
    if closure not in CLOSURES:
        raise ParameterError(f"closure = {closure!r} is out of range: one of {list(CLOSURES)}")
    if param not in PARAM_INDEX:
        raise ParameterError(f"param = {param!r} cannot be continued: one of "
                             f"{sorted(PARAM_INDEX)}")
    lo, hi = check_range(params, param, p_range)
    o = options or AnalysisOptions()
    o.validate()
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    messages: list[str] = []
    side = o.verify.side_distance or (hi - lo) / 15
    vo = replace(o.verify, transient_ms=o.verify.transient_ms,
                 mfe_min_height_hz=10.0 * 1000.0 / params.N_E)
    scan = [float(v) for v in np.linspace(lo, hi, o.n_scan)] if o.n_scan else []
    vo = replace(vo, grid=tuple(scan))
    sims = {"snn": partial(snn_trace, params, param, o.t_ms, bin_rule=bin_rule,
                           closure=closure),
            "markov": partial(markov_trace, params, param, o.t_ms, bin_rule=bin_rule,
                              closure=closure)}
    pool = _Pool(o.workers, say)
    t_all = time.perf_counter()
    try:
        t0 = time.perf_counter()
        start_value = min(max(getattr(params, param), lo), hi)
        definition = MarkovModelDef(params.replace(**{param: start_value}), bin_rule=bin_rule,
                                    closure=closure)
        model = definition.compile()  # generated code; numba compiles each part on first use
        # the workers compile the derivatives into the on-disk cache while this process
        # compiles the right-hand side and integrates to the start state
        warm = [pool.submit(_precompile, definition, parts) for parts in _WARM_PARTS] \
            if pool.ex is not None else []
        # the SNN scan does not depend on the continuation: start it next
        scan_keys = [("snn", v, s, 1.0) for v in scan for s in o.scan_seeds]
        scan_futs = [pool.submit(_run_one, sims[m], v, s, d, vo) for m, v, s, d in scan_keys]
        say(f"SNN Delta m scan: {len(scan_futs)} runs of {o.t_ms:g} ms submitted "
            f"({o.workers} worker(s))")
        x_start = time_averaged_state(model)
        for fut in warm:
            if fut.exception() is not None:  # the parts are compiled here instead
                say(f"precompiling in a worker failed ({fut.exception()}); compiling here")
        eq = find_equilibrium(model, x_start)
        timings["reduction"] = time.perf_counter() - t0
        say(f"reduced ODE: equilibrium at {param} = {start_value:g}: {eq.message}")
        if not eq.success:
            return _failed(params, param, (lo, hi), bin_rule, o, scan,
                           f"no equilibrium at {param} = {start_value:g}: {eq.message}", timings,
                           closure)
        from bifsnn.analysis.branches import continue_network

        cache: dict[tuple, Any] = {}

        def run_ahead(eqs: list[Any]) -> None:
            """Submit the verification runs the equilibria already determine, so that
            they use the cores the cycle continuation leaves idle."""
            cont_eq = {"equilibria": eqs, "cycles": [], "targets": {}}
            br_eq, sp_eq, pred_eq, *_ = _records(model, param, params, cont_eq, (lo, hi), vo)
            keys = planned_runs(sp_eq, br_eq, pred_eq, (lo, hi), sims, vo)
            for m, v, s, d in keys:
                if (m, v, s, d) not in cache:
                    cache[(m, v, s, d)] = pool.submit(_run_one, sims[m], v, s, d, vo)
            say(f"verification: {len(keys)} runs fixed by the equilibria submitted ahead")

        cont = continue_network(model, param, (lo, hi), eq.x, params.N_E + params.N_I, o,
                                side, say, messages, timings,
                                on_equilibria=run_ahead if pool.ex is not None else None)
        branches, special, predict, eq_curves, cycle_curves, states = _records(
            model, param, params, cont, (lo, hi), vo)

        # the ODE's Delta m diagram: from the continued attractors, integration elsewhere
        t0 = time.perf_counter()
        ode_dm: list[list[float] | None] = []
        ode_src: list[str] = []
        pending: list[int] = []
        for i, v in enumerate(scan):
            preds = [p for p in predict(v) if p.kind != "oscillation"]
            if preds:
                dm: list[float] = []
                for p in preds:
                    if p.kind == "period_doubled_cycle":
                        dm += [p.delta_m_hz, -p.delta_m_hz]
                    elif p.kind == "stable_cycle":
                        dm += [0.0, 0.0]
                ode_dm.append(dm)
                ode_src.append("continuation")
            else:
                pending.append(i)
                ode_dm.append(None)
                ode_src.append("unknown")
        todo = pending
        if len(todo) > o.ode_integrations:  # evenly spread subset; the rest stays unknown
            keep = np.unique(np.linspace(0, len(todo) - 1, o.ode_integrations).round())
            todo = [todo[int(k)] for k in keep] if o.ode_integrations else []
        ode_futs: dict[int, Future] = {}
        for i in todo:
            ode_futs[i] = pool.submit(_ode_observe, params, bin_rule, closure, param, scan[i],
                                      states(scan[i]), o.ode_t_ms, vo)
            ode_src[i] = "integration"
        if ode_futs:
            say(f"ODE time integration at {len(ode_futs)} values without a continued stable "
                f"attractor")
        snn_dm: list[list[float]] = [[] for _ in scan]
        for n_done, (key, fut) in enumerate(zip(scan_keys, scan_futs, strict=True), 1):
            cache[key] = fut.result()
            snn_dm[scan.index(key[1])] += cache[key]["delta_m_hz"]
            if n_done % max(1, len(scan_futs) // 4) == 0:
                say(f"SNN Delta m scan: {n_done}/{len(scan_futs)} runs done")
        for i, fut in ode_futs.items():
            ode_dm[i] = fut.result()["delta_m_hz"]
        timings["delta_m_diagrams"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        ver = verify(special, branches, predict, (lo, hi), sims, param=param, options=vo,
                     map_fn=pool.map, cache=cache, log=say)
        timings["verification"] = time.perf_counter() - t0
        say("verification: " + ver.summary_line())
    finally:
        pool.close()
    timings["total"] = time.perf_counter() - t_all
    incomplete = [b for b in branches if not b.complete]
    status = "stopped early" if incomplete else "completed"
    for b in incomplete:
        messages.append(f"branch '{b.label}' stopped early: {b.message}")
    if not incomplete and not ver.verdicts and not ver.boundaries:
        status = NOTHING_VERIFIED
        messages.append(
            f"nothing was verified: the reduced ODE has no special point in [{lo:g}, {hi:g}] "
            "and no stable equilibrium or cycle there, so it made no prediction that the SNN "
            "could check")
    return NetworkAnalysis(params, param, (lo, hi), bin_rule, o, cont["equilibria"],
                           cont["cycles"], branches, special, scan, snn_dm, ode_dm, ode_src,
                           ver, eq_curves, cycle_curves, status, messages, timings, predict,
                           closure)


def _failed(params, param, p_range, bin_rule, o, scan, msg, timings,
            closure="paper") -> NetworkAnalysis:
    return NetworkAnalysis(params, param, p_range, bin_rule, o, [], [], [], [], scan, [], [],
                           [], None, [], [], "failed", [msg], timings, None, closure)


def _records(model, param, params, cont, p_range, vo):
    from bifsnn.analysis.branches import records_from_continuation

    return records_from_continuation(model, param, params, cont, p_range, vo)
