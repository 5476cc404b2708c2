"""Network bifurcation analysis: the reduced ODE continued in one network parameter, with the
prediction checked against direct spiking simulations at sample values.

This is the pipeline end to end: ``NetworkParams`` -> ``MarkovModelDef`` (reduction) ->
equilibrium by Newton -> ``continue_equilibria`` (Hopf, fold and branch points) -> cycle
branches from the Hopf points (collocation) -> SNN, Markov-model and ODE runs at
``n_verify`` values of the parameter -> one diagram and one report.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.network.params import NetworkParams, ParameterError

__all__ = ["NetworkAnalysis", "VerificationPoint", "analyse_network"]

#: Observables compared between the prediction and the simulations.
_COMPARED = ("rate_e_hz", "rate_i_hz", "ssi_e", "spectral_peak_hz", "n_peaks")


@dataclass
class VerificationPoint:
    """Simulations and the reduced model's prediction at one parameter value.

    ``snn``/``markov``/``ode``: observables (``bifsnn.network.observables.summary`` keys, averaged
    over seeds for the stochastic models) plus ``peak_heights`` and ``delta_m`` pooled over
    seeds.  ``predicted``: what the continuation says: ``equilibrium_stable``, the
    equilibrium rates, and the stable cycle's period and rate range when one was continued
    through this value.
    """

    value: float
    snn: dict[str, Any]
    markov: dict[str, Any]
    ode: dict[str, Any]
    predicted: dict[str, Any]


@dataclass
class NetworkAnalysis:
    """Result of :func:`analyse_network`; ``success``/``message`` say how it ended."""

    params: NetworkParams
    param: str
    p_range: tuple[float, float]
    bin_rule: str
    equilibria: list[Any]
    cycles: list[Any]
    verification: list[VerificationPoint]
    rates_along: list[np.ndarray]  # per equilibrium branch: (N, 2) f_E, f_I in spikes/ms
    success: bool
    message: str
    timings_s: dict[str, float] = field(default_factory=dict)

    def special_points(self) -> list[dict[str, Any]]:
        """Located special points of every equilibrium and cycle branch, in parameter order."""
        out = []
        for br in self.equilibria:
            for sp in br.special_points:
                if sp.type == "EP":
                    continue
                item = {"type": sp.type, self.param: sp.param}
                for key in ("omega", "l1", "criticality"):
                    if key in sp.data:
                        v = sp.data[key]
                        item[key] = v if isinstance(v, str) else float(v)
                if "omega" in item:
                    item["period_ms"] = 2 * math.pi / item["omega"]
                out.append(item)
        for cb in self.cycles:
            for sp in cb.special_points:
                if sp.type != "EP":
                    out.append({"type": sp.type, self.param: sp.param})
        # de-duplicate points found twice (both directions; a cycle branch ending at its
        # Hopf point): the first found, i.e. the equilibrium engine's with omega/l1, is kept
        uniq: list[dict[str, Any]] = []
        for item in out:
            if not any(u["type"] == item["type"] and abs(u[self.param] - item[self.param])
                       < 1e-6 for u in uniq):
                uniq.append(item)
        return sorted(uniq, key=lambda d: d[self.param])

    def to_dict(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "p_range": list(self.p_range),
            "bin_rule": self.bin_rule,
            "success": self.success,
            "message": self.message,
            "special_points": self.special_points(),
            "cycle_branches": [
                {"n_points": len(cb), "success": bool(cb.success),
                 "message": cb.message,
                 "p_range": [float(cb.param_values.min()),
                             float(cb.param_values.max())] if len(cb) else None}
                for cb in self.cycles
            ],
            "verification": [
                {"value": v.value, "predicted": v.predicted,
                 **{m: {k: v_ for k, v_ in getattr(v, m).items()
                        if k not in ("peak_heights", "delta_m")}
                    for m in ("snn", "markov", "ode")}}
                for v in self.verification
            ],
            "timings_s": self.timings_s,
            "params": self.params.to_dict(),
        }

    def report_markdown(self) -> str:
        """A short human-readable report: special points and the verification table."""
        p = self.param
        lines = [
            f"# Bifurcation analysis in {p} on [{self.p_range[0]:g}, {self.p_range[1]:g}]",
            "",
            f"Reduced ODE ({self.bin_rule} within-bin rule); {self.message}.",
            "",
            "## Special points of the reduced ODE",
            "",
            f"| type | {p} | period (ms) | l1 / criticality |",
            "|---|---|---|---|",
        ]
        for sp in self.special_points():
            per = f"{sp['period_ms']:.2f}" if "period_ms" in sp else ""
            crit = sp.get("criticality", "")
            l1 = f"{sp['l1']:.3g} {crit}" if "l1" in sp else ""
            lines.append(f"| {sp['type']} | {sp[p]:.6g} | {per} | {l1} |")
        lines += [
            "",
            "## Prediction against simulations",
            "",
            "Rates in Hz per neuron; `peak` the spectral peak (Hz); `MFE/s` the number of MFE "
            "peaks per second.",
            "",
            f"| {p} | predicted regime | ODE rate E | SNN rate E | Markov rate E | "
            "ODE peak | SNN peak | Markov peak | SNN SSI E | SNN MFE/s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for v in self.verification:
            pr = v.predicted
            regime = ("stable equilibrium" if pr.get("equilibrium_stable")
                      else "oscillation (unstable equilibrium)")
            if "cycle_period_ms" in pr:
                regime += f", cycle T = {pr['cycle_period_ms']:.1f} ms"
            lines.append(
                f"| {v.value:.4g} | {regime} | {_fmt(v.ode.get('rate_e_hz'))} | "
                f"{_fmt(v.snn.get('rate_e_hz'))} | {_fmt(v.markov.get('rate_e_hz'))} | "
                f"{_fmt(v.ode.get('spectral_peak_hz'))} | {_fmt(v.snn.get('spectral_peak_hz'))} | "
                f"{_fmt(v.markov.get('spectral_peak_hz'))} | {_fmt(v.snn.get('ssi_e'))} | "
                f"{_fmt(v.snn.get('mfe_per_s'))} |"
            )
        lines += ["", "Timings (s): " + ", ".join(f"{k} {t:.1f}"
                                                 for k, t in self.timings_s.items())]
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | Path, *, plots: bool = True) -> Path:
        """Write ``analysis.json``, ``report.md`` and (if ``plots``) the diagram to a folder."""
        from bifsnn._files import atomic_write_text, json_default

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "analysis.json", json.dumps(self.to_dict(), indent=2,
                                                            default=json_default) + "\n")
        atomic_write_text(out / "report.md", self.report_markdown())
        self.params.save_toml(out / "params.toml")
        if plots:
            plot_analysis(self, out / "bifurcation_diagram")
        return out


def _fmt(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"



def _check_range(params: NetworkParams, param: str, p_range: Sequence[float]) -> tuple:
    from bifsnn.reduction import PARAM_INDEX

    if param not in PARAM_INDEX or param not in NetworkParams.field_names():
        allowed = sorted(set(PARAM_INDEX) & set(NetworkParams.field_names()))
        raise ParameterError(f"param = {param!r} cannot be continued: one of {allowed}")
    if len(p_range) != 2 or not p_range[0] < p_range[1]:
        raise ParameterError(f"p_range = {tuple(p_range)!r} must be two increasing numbers")
    for v in p_range:  # validates the end points through NetworkParams' rules
        params.replace(**{param: v})
    return float(p_range[0]), float(p_range[1])


def _summaries(results: list[Any], transient_ms: float) -> dict[str, Any]:
    """Observables averaged over runs; peak heights and Delta m pooled."""
    from bifsnn.network.observables import peak_differences, summary

    infos = [summary(r, transient_ms=transient_ms) for r in results]
    out: dict[str, Any] = {}
    for key in _COMPARED + ("ssi_i",):
        vals = [i.get(key) for i in infos]
        vals = [float(v) for v in vals if isinstance(v, int | float) and math.isfinite(v)]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    heights = [h for i in infos for h in i["peak_heights"]]
    out["peak_heights"] = heights
    out["delta_m"] = [float(d) for i in infos for d in peak_differences(i["peak_heights"])]
    span_s = sum(r.duration_ms - transient_ms for r in results) / 1000.0
    out["mfe_per_s"] = len(heights) / span_s if span_s > 0 else float("nan")
    return out


def _predict(analysis_branches, rates_along, cycles, value: float, N_E: int, N_I: int) -> dict:
    """Equilibrium stability/rates and stable-cycle period at ``value`` from the branches."""
    best = None
    for br, rates in zip(analysis_branches, rates_along, strict=True):
        pv = br.param_values
        for j in range(len(pv) - 1):
            lo, hi = sorted((pv[j], pv[j + 1]))
            if lo <= value <= hi:
                w = 0.0 if hi == lo else (value - pv[j]) / (pv[j + 1] - pv[j])
                r = (1 - w) * rates[j] + w * rates[j + 1]
                cand = {"equilibrium_stable": bool(br.stable[j] and br.stable[j + 1]),
                        "rate_e_hz_eq": 1000 * r[0] / N_E, "rate_i_hz_eq": 1000 * r[1] / N_I}
                if best is None or cand["equilibrium_stable"]:
                    best = cand
    pred = best or {}
    for cb in cycles:
        ps, periods = cb.param_values[cb.stable], cb.period[cb.stable]
        if not ps.size:
            continue
        j = int(np.argmin(np.abs(ps - value)))
        if abs(ps[j] - value) <= 0.02 * max(1.0, abs(value)):
            pred["cycle_period_ms"] = float(periods[j])
            pred["cycle_p"] = float(ps[j])
    return pred


def analyse_network(
    params: NetworkParams | None = None,
    param: str = "p_EI",
    p_range: Sequence[float] = (0.4, 1.0),
    *,
    bin_rule: str = "smooth",
    n_verify: int = 4,
    seeds: Sequence[int] = (0,),
    t_ms: float = 1500.0,
    transient_ms: float = 200.0,
    with_cycles: bool = True,
    max_steps: int = 400,
    cycle_steps: int = 40,
    log: Callable[[str], None] | None = print,
) -> NetworkAnalysis:
    """Continue the reduced ODE's equilibria in ``param`` over ``p_range``, start cycle branches
    at its Hopf points, and compare with SNN, Markov-model and ODE runs at ``n_verify``
    equally spaced values (each ``t_ms`` long, per seed for the stochastic models).
    """
    from bifsnn.continuation import continue_equilibria
    from bifsnn.network.markov import simulate_markov
    from bifsnn.network.snn import simulate_snn
    from bifsnn.reduction import network_problem, simulate_ode

    params = NetworkParams() if params is None else params
    lo, hi = _check_range(params, param, p_range)
    if not (isinstance(n_verify, int) and n_verify >= 0):
        raise ParameterError(f"n_verify = {n_verify!r} is out of range: must be an integer >= 0")
    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    messages: list[str] = []

    t0 = time.perf_counter()
    start_value = min(max(getattr(params, param), lo), hi)
    start = network_problem(params.replace(**{param: start_value}), param, bin_rule=bin_rule)
    model, eq, problem = start.model, start.equilibrium, start.problem
    timings["reduction"] = time.perf_counter() - t0
    say(f"equilibrium at {param} = {start_value:g}: {eq.message}; rates "
        f"{eq.rate_e_hz:.2f} / {eq.rate_i_hz:.2f} Hz")
    if not eq.success:
        return NetworkAnalysis(params, param, (lo, hi), bin_rule, [], [], [], [], False,
                               f"no equilibrium found at {param} = {start_value:g}: "
                               f"{eq.message}", timings)

    t0 = time.perf_counter()
    branches = []
    for direction in (+1, -1):
        opts = start.options(ds_min=1e-8 * start.n_neurons, p_min=lo, p_max=hi,
                             max_steps=max_steps, direction=direction)
        br = continue_equilibria(problem, opts)
        branches.append(br)
        say(f"equilibria, direction {direction:+d}: {len(br)} points, {br.message}")
        if not br.success:
            messages.append(f"equilibria ({direction:+d}): {br.message}")
    rates_along = [_rates_along(model, param, br) for br in branches]
    timings["equilibria"] = time.perf_counter() - t0

    cycles: list[Any] = []
    if with_cycles:
        t0 = time.perf_counter()
        cycles = _cycles_from_hopf(problem, branches, lo, hi, cycle_steps, say, messages)
        timings["cycles"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    verification = []
    for value in (np.linspace(lo, hi, n_verify) if n_verify else []):
        value = float(value)
        # the spiking models need whole neurons when N_E / N_I is the parameter
        pv = params.replace(**{param: round(value) if param in ("N_E", "N_I") else value})
        snn = _summaries([simulate_snn(pv, t_ms=t_ms, seed=s, progress=False) for s in seeds],
                         transient_ms)
        mk = _summaries([simulate_markov(pv, t_ms=t_ms, seed=s, progress=False)
                         for s in seeds], transient_ms)
        ode_model = model.with_param_value(param, value)
        x0 = _nearest_state(branches, value, eq.x)
        x0 = x0 + 1e-3 * np.abs(x0) * np.sin(np.arange(x0.size))  # leave an unstable point
        ode = _summaries([simulate_ode(ode_model, t_ms=t_ms, x0=x0)], transient_ms)
        pred = _predict(branches, rates_along, cycles, value, params.N_E, params.N_I)
        verification.append(VerificationPoint(value, snn, mk, ode, pred))
        say(f"{param} = {value:.4g}: SNN {snn['rate_e_hz']:.1f} Hz, Markov "
            f"{mk['rate_e_hz']:.1f} Hz, ODE {ode['rate_e_hz']:.1f} Hz; equilibrium "
            f"{'stable' if pred.get('equilibrium_stable') else 'unstable'}")
    timings["verification"] = time.perf_counter() - t0

    message = "; ".join(messages) if messages else "completed"
    return NetworkAnalysis(params, param, (lo, hi), bin_rule, branches, cycles, verification,
                           rates_along, not messages, message, timings)


def _rates_along(model, param: str, branch) -> np.ndarray:
    """(f_E, f_I) in spikes/ms at every point, each at its own parameter value (the firing
    fraction depends on tau_*, S_*, lambda_ext, ...)."""
    return np.array([model.with_param_value(param, float(v)).firing_rates(x)
                     for x, v in zip(branch.x, branch.param_values, strict=True)])


def _nearest_state(branches, value: float, default: np.ndarray) -> np.ndarray:
    best, dist = default, math.inf
    for br in branches:
        pv = br.param_values
        if len(pv):
            j = int(np.argmin(np.abs(pv - value)))
            if abs(pv[j] - value) < dist:
                best, dist = br.x[j], abs(pv[j] - value)
    return np.array(best, dtype=float)


def _cycles_from_hopf(problem, branches, lo, hi, steps, say, messages,
                      ntst: int = 40) -> list[Any]:
    """One cycle branch from each distinct Hopf point (failures are reported, not raised).

    Collocation with ``ntst`` intervals of degree 4 and AUTO-style mesh adaptation; the
    branch leaves the Hopf point on the side given by the first Lyapunov coefficient.
    """
    from bifsnn.continuation import Collocation, ContinuationOptions, continue_cycles
    from bifsnn.continuation.periodic import CYCLE_DEFAULTS

    seen: list[float] = []
    out = []
    for br in branches:
        for sp in br.points("H"):
            if any(abs(sp.param - s) < 1e-6 for s in seen):
                continue
            seen.append(sp.param)
            try:
                opts = ContinuationOptions(**{**CYCLE_DEFAULTS, "max_steps": steps,
                                              "p_min": lo, "p_max": hi})
                cb = continue_cycles(br, sp, opts, Collocation(ntst=ntst, ncol=4))
            except Exception as exc:  # numerical failure: report and go on
                messages.append(f"cycle from H at {sp.param:.6g}: {exc}")
                say(f"cycle branch from H at {sp.param:.6g} failed: {exc}")
                continue
            out.append(cb)
            kinds = ", ".join(f"{c.type} at {c.param:.6g}" for c in cb.special_points
                              if c.type != "EP") or "none"
            say(f"cycles from H at {sp.param:.6g}: {len(cb)} points, special points: "
                f"{kinds}; {cb.message}")
    return out


def plot_analysis(analysis: NetworkAnalysis, path: str | Path):
    """Diagram: E rate of equilibria (stable solid, unstable dashed) and cycles (min/max of
    f_E) against the parameter, with the SNN's mean rate and MFE peak heights; below, the
    SNN's Delta m histogram against the parameter (the simulation-side diagram)."""
    from bifsnn._figures import save_figure, subplots
    from bifsnn.network.observables import DEFAULT_DELTA_M_EDGES, delta_m_histogram, log2_display

    fig, (ax, ax_h) = subplots(2, 1, figsize=(8, 7.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 2]})
    for br, rates in zip(analysis.equilibria, analysis.rates_along, strict=True):
        pv, fe = br.param_values, rates[:, 0]
        stable = br.stable
        for mask, style in ((stable, "-"), (~stable, "--")):
            y = np.where(mask, fe, np.nan)
            ax.plot(pv, y, style, color="k", lw=1.4)
        for sp in br.special_points:
            if sp.type in ("H", "LP", "BP"):
                j = sp.index
                ax.plot(pv[j], fe[j], "o", color="C3", ms=5)
                ax.annotate(sp.type, (pv[j], fe[j]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8, color="C3")
    model_rates = _cycle_rates(analysis)
    for ps, fmin, fmax, stab in model_rates:
        for arr in (fmin, fmax):
            ax.plot(ps, np.where(stab, arr, np.nan), "-", color="C0", lw=1.2)
            ax.plot(ps, np.where(~stab, arr, np.nan), "--", color="C0", lw=1.0)
    vals = [v.value for v in analysis.verification]
    for v in analysis.verification:
        h = v.snn.get("peak_heights", [])
        ax.plot([v.value] * len(h), h, ".", color="C1", ms=2, alpha=0.3)
    ax.plot(vals, [v.snn["rate_e_hz"] * analysis.params.N_E / 1000 for v in
                   analysis.verification], "s", color="C1", ms=6, label="SNN mean f_E")
    ax.plot(vals, [v.ode["rate_e_hz"] * analysis.params.N_E / 1000 for v in
                   analysis.verification], "^", color="C2", ms=6,
            label="ODE time integration, mean f_E")
    ax.plot([], [], ".", color="C1", label="SNN MFE peaks (1 ms smoothed)")
    ax.plot([], [], "-", color="k", label="equilibria (stable / unstable dashed)")
    ax.plot([], [], "-", color="C0", label="cycles: min/max f_E")
    ax.set_ylabel("E population rate f_E (spikes/ms)")
    ax.set_yscale("symlog", linthresh=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Reduced ODE ({analysis.bin_rule} rule) vs SNN, N_E={analysis.params.N_E}")

    if analysis.verification:
        edges = DEFAULT_DELTA_M_EDGES
        cols = [log2_display(delta_m_histogram(v.snn["delta_m"], edges).fraction)
                for v in analysis.verification]
        width = (vals[-1] - vals[0]) / max(1, len(vals) - 1) if len(vals) > 1 else 0.1
        x_edges = np.concatenate([[vals[0] - width / 2], np.array(vals) + width / 2])
        ax_h.pcolormesh(x_edges, edges, np.array(cols).T, cmap="magma_r", shading="flat")
    ax_h.set_ylabel("SNN Delta m (spikes/ms)")
    ax_h.set_xlabel(analysis.param)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _cycle_rates(analysis: NetworkAnalysis) -> list[tuple[np.ndarray, ...]]:
    """Per cycle branch: parameter values, min and max of f_E over the cycle, stability."""
    from bifsnn.reduction import MarkovModelDef

    out = []
    if not analysis.cycles:
        return out
    model = MarkovModelDef(analysis.params, bin_rule=analysis.bin_rule).compile()
    for cb in analysis.cycles:
        ps, fmin, fmax, stab = [], [], [], []
        for i in range(len(cb)):
            pt = cb.cycle(i)
            m = model.with_param_value(analysis.param, pt.p)
            fe = np.array([m.firing_rates(u)[0] for u in pt.U])
            ps.append(pt.p)
            fmin.append(fe.min())
            fmax.append(fe.max())
            stab.append(bool(cb.stable[i]))
        out.append(tuple(np.array(a) for a in (ps, fmin, fmax, stab)))
    return out
