"""Report and diagram of a :class:`bifsnn.analysis.network.NetworkAnalysis` (one unit: Hz per
neuron for every rate and Delta m; periods in ms)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_analysis", "report_markdown", "write_markdown_keeping"]


def write_markdown_keeping(path: str | Path, text: str, marker: str = "<!-- reading -->"
                           ) -> None:
    """Write ``text`` to ``path`` (atomically), keeping the old file's part from ``marker``
    on (a hand-written reading below generated tables)."""
    from bifsnn._files import atomic_write_text

    p = Path(path)
    old = p.read_text() if p.exists() else ""
    keep = old[old.index(marker):] if marker in old else ""
    atomic_write_text(p, text.rstrip("\n") + "\n\n" + keep)


def _f(x: Any, fmt: str = ".3g") -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return format(x, fmt)


def report_markdown(a: Any) -> str:
    """Markdown report: status, special points, verdict tables per branch, boundaries."""
    p = a.param
    ver = a.verification
    msg = str(a.message).rstrip(".")
    head = f"**Status: {a.status}.**" + (f" {msg}." if msg and msg != a.status else "")
    lines = [f"# Bifurcation analysis in {p} on [{a.p_range[0]:g}, {a.p_range[1]:g}]", "",
             head, ""]
    if ver is not None:
        lines += [f"**{ver.summary_line()}.**", ""]
    lines += ["Reduced ODE (" + a.bin_rule + " within-bin rule, closure " + a.closure + ") "
              "continued in " + p + "; SNN and "
              "Markov model simulated. Units: rates, MFE peak heights and Delta m in Hz per "
              "neuron (population spikes/ms x 1000 / N); periods in ms.", "",
              "## Branches", "", "| branch | kind | stable on | reached its target | end |",
              "|---|---|---|---|---|"]
    for b in a.branches:
        iv = ", ".join(f"[{x:.4g}, {y:.4g}]" for x, y in b.stable_intervals) or "nowhere"
        lines.append(f"| {b.label} | {b.kind} | {iv} | {'yes' if b.complete else '**no**'} | "
                     f"{b.message} |")
    lines += ["", "## Special points of the reduced ODE", "",
              f"| type | {p} | branch | period (ms) | confirmed |", "|---|---|---|---|---|"]
    for s in a.special:
        ok = "yes" if s.confirmed else f"**no**: {s.note}"
        if s.type == "ALT":
            ok += (f" ({s.note}; +-{s.halfwidth:.2g})" if s.confirmed else "")
        lines.append(f"| {s.type} | {s.value:.5g} | {s.branch} | {_f(s.period_ms, '.2f')} | "
                     f"{ok} |")
    if any(not s.confirmed for s in a.special):
        lines += ["", "Unconfirmed labels are listed but not used: no cycle is started from an "
                  "unconfirmed Hopf or period-doubling point and no SNN boundary is compared "
                  "with one."]
    if ver is None:
        return "\n".join(lines) + "\n"
    o = ver.options
    side = o.side_distance or (a.p_range[1] - a.p_range[0]) / 15
    btol = o.boundary_tol or (a.p_range[1] - a.p_range[0]) / 24
    lines += [
        "", "## How predictions are judged", "",
        f"Test values: {side:.3g} on both sides of every special point and {o.n_along} values "
        f"along every stable branch; seeds {list(o.seeds)}; {a.options.t_ms:g} ms runs, the "
        f"first {o.transient_ms:g} ms dropped. Observed = mean over seeds, spread = SD over "
        "seeds; SE = SD / sqrt(n).",
        f"- numbers (rates, period, peak height, |Delta m|): e = |obs - pred| / pred, "
        f"u = {o.n_sigma:g} SE / pred; agree if e + u <= tol, disagree if e - u > tol, else "
        f"inconclusive; tol: rates {o.rate_tol:g}, period {o.period_tol:g}, MFE peak height "
        f"{o.peak_tol:g}, |Delta m| {o.delta_m_tol:g}.",
        f"- oscillation present/absent: synchrony ratio (SSI of E over its value for "
        f"independent firing at the same rate) against {o.sync_threshold:g}; agree if mean "
        f"+- {o.n_sigma:g} SE lies wholly on the predicted side, disagree if wholly on the "
        "other.",
        f"- alternation present/absent: alternation index (minus the lag-1 correlation of "
        f"successive MFE peak differences: 0.5 for independent heights, 1 for strict "
        f"big/small alternation) against {o.alt_threshold:g}, same rule. Predicted present "
        f"on a stable doubled cycle and on a stable cycle whose real Floquet multiplier mu is "
        f"below {1 - 2 * o.alt_threshold:g}, absent where mu is above it (not predicted, "
        f"inconclusive, where the multipliers are inaccurate or a complex pair lies left of "
        f"it): noisy peak heights near a cycle with multiplier mu follow x_n = mu x_(n-1) + "
        f"e_n, whose alternation index is (1 - mu) / 2, so the index {o.alt_threshold:g} "
        f"corresponds to mu = {1 - 2 * o.alt_threshold:g}, reached before the period "
        f"doubling (mu = -1).",
        f"- boundaries: bracketing search ({o.bisect_steps} bisections, seeds "
        f"{list(o.seeds)}) for the {p} where the SNN statistic's seed mean crosses its "
        f"threshold, in [ODE value - {2 * side:.3g}, ODE value + {2 * side:.3g}]; "
        f"half-width = half the final bracket + {o.n_sigma:g} SE / slope; agree if "
        f"|SNN - ODE| <= {btol:.3g} and half-width <= {btol:.3g}, disagree if "
        f"|SNN - ODE| - half-width > {btol:.3g}. The alternation boundary is compared with "
        f"the ALT point (the cycle's real multiplier crossing {1 - 2 * o.alt_threshold:g}, "
        f"located by interpolation between the branch's rows; its location error is added "
        f"to the half-width), the PD point (mu = -1) listed beside it; where the branch has "
        f"no located ALT point the verdict is unconfirmed.",
        f"- coexisting attractors (the ODE bistable): SNN and Markov runs started on each "
        f"attractor (the network state of a point of the ODE's equilibrium or cycle), every "
        f"seed; each run is assigned to the attractor it shows (oscillation: synchrony "
        f"ratio > {o.sync_threshold:g}; alternation: alternation index > "
        f"{o.alt_threshold:g}; else the nearest E rate); agree (the SNN keeps the history) "
        f"if from every start >= {o.keep_fraction:.2g} of the runs stay, disagree if from "
        f"some start <= {1 - o.keep_fraction:.2g} do.",
        "- the synchrony threshold 1.5 is a convention (1-ms rate CV^2 about 0.5), chosen "
        "on a p_EI scan of the default network; the alternation threshold "
        f"{o.alt_threshold:g} lies between independent heights (0.5) and strict "
        f"alternation (1): it is met at mu = {1 - 2 * o.alt_threshold:g}, not at the PD.",
    ]
    branches = list(dict.fromkeys(v.branch for v in ver.verdicts))
    for br in branches:
        rows = [v for v in ver.verdicts if v.branch == br]
        nag = sum(v.verdict == "agree" for v in rows)
        lines += ["", f"## Predictions of: {br} ({nag} of {len(rows)} agree)", "",
                  f"| {p} | prediction | observable | predicted | SNN observed ± SD | "
                  "statistic | verdict | Markov observed ± SD | Markov verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for v in rows:
            lines.append(
                f"| {v.value:.4g} | {v.prediction} | {v.observable} | {_f(v.predicted)} | "
                f"{_f(v.observed)} ± {_f(v.spread, '.2g')} | {v.statistic} | "
                f"**{v.verdict}** | {_f(v.markov_observed)} ± {_f(v.markov_spread, '.2g')} | "
                f"{v.markov_verdict} |")
    lines += ["", "## Boundaries: the SNN's own transitions against the ODE's special points",
              "", f"| kind | ODE point | ODE {p} | SNN {p} | SNN interval | distance | "
              "statistic | verdict | reason | beside |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    star = 1 - 2 * o.alt_threshold
    for b in ver.boundaries:
        iv = f"[{_f(b.snn_interval[0], '.4g')}, {_f(b.snn_interval[1], '.4g')}]"
        what = f"ALT (mu = {star:g})" if b.type == "ALT" else b.type
        ode = f"{b.ode_value:.4g}" + (f" ± {b.ode_halfwidth:.2g}" if b.ode_halfwidth else "")
        beside = (b.beside + " (mu = -1)") if b.beside.startswith("PD") else (b.beside or "–")
        lines.append(f"| {b.kind} | {what} | {ode} | {_f(b.snn_value, '.4g')} | {iv} | "
                     f"{_f(b.distance, '.3g')} | {b.statistic} | **{b.verdict}** | "
                     f"{b.reason} | {beside} |")
    if ver.dt_control:
        lines += ["", "## dt/2 control next to the boundaries (SNN, seeds "
                  f"{list(o.seeds[:2])})", "",
                  f"| {p} | observable | dt | dt/2 | difference | seed SD | within "
                  f"{o.n_sigma:g} SD |", "|---|---|---|---|---|---|---|"]
        for r in ver.dt_control:
            lines.append(f"| {r['value']:.4g} | {r['observable']} | {_f(r['dt'])} | "
                         f"{_f(r['dt_half'])} | {_f(r['difference'], '.2g')} | "
                         f"{_f(r['seed_sd'], '.2g')} | "
                         f"{'yes' if r['within_seed_spread'] else 'no'} |")
    lines += ["", "Timings (s, wall): " + ", ".join(f"{k} {t:.1f}"
                                                    for k, t in a.timings_s.items())]
    return "\n".join(lines) + "\n"


def _dm_rows(values: list[float], lists: list[Any], edges: np.ndarray) -> np.ndarray:
    from bifsnn.network.observables import delta_m_histogram, log2_display

    out = np.full((len(values), edges.size - 1), np.nan)
    for i, dm in enumerate(lists):
        if dm is not None and len(dm):
            out[i] = log2_display(delta_m_histogram(np.asarray(dm, float), edges).fraction)
    return out


def plot_analysis(a: Any, path: str | Path) -> Any:
    """The diagram: top, E rate of equilibria (stable solid / unstable dashed) and the cycles'
    MFE peak heights with the SNN's and Markov model's means and error bars; bottom, the
    Delta m diagrams of the SNN and of the ODE side by side, each with a colour bar."""
    from matplotlib.figure import Figure

    from bifsnn._figures import save_figure

    lo, hi = a.p_range
    fig = Figure(figsize=(11, 8.5))
    gs = fig.add_gridspec(2, 2, height_ratios=[3, 2])
    ax = fig.add_subplot(gs[0, :])
    ax.plot([], [], "-", color="k", label="equilibrium, stable")
    ax.plot([], [], "--", color="k", label="equilibrium, unstable")
    for c in a.eq_curves:
        ax.plot(c["p"], np.where(c["stable"], c["rate_e_hz"], np.nan), "-", color="k", lw=1.5)
        ax.plot(c["p"], np.where(~c["stable"], c["rate_e_hz"], np.nan), "--", color="k", lw=1)
    colours = {"stable_cycle": "C0", "period_doubled_cycle": "C4"}
    for c in a.cycle_curves:
        col = colours.get(c["kind"], "C0")
        hmax = np.array([h.max() if len(h) else np.nan for h in c["peaks_hz"]])
        hmin = np.array([h.min() if len(h) else np.nan for h in c["peaks_hz"]])
        for arr in ([hmax, hmin] if c["kind"] == "period_doubled_cycle" else [hmax]):
            ax.plot(c["p"], np.where(c["stable"], arr, np.nan), "-", color=col, lw=1.5)
            ax.plot(c["p"], np.where(~c["stable"], arr, np.nan), "--", color=col, lw=1)
        what = ("big and small MFE peaks" if c["kind"] == "period_doubled_cycle"
                else "MFE peak height")
        seen = np.isfinite(hmax) & (c["p"] >= lo) & (c["p"] <= hi)
        if seen.sum() >= 2:  # the legend lists only what is drawn
            ax.plot([], [], "-", color=col, label=f"{c['label']}: {what} (dashed: unstable)")
    ys = [a.eq_curves[0]["rate_e_hz"]] if a.eq_curves else []
    groups: list[list[tuple[float, float, str]]] = []  # nearby points share one label
    for sp in sorted(a.special, key=lambda q: q.value):
        y = _y_at(a, sp)
        if y is None:
            continue
        ax.plot(sp.value, y, "o", color="C3", ms=5, zorder=5,
                mfc="C3" if sp.confirmed else "none")
        name = sp.type + ("" if sp.confirmed else "?")
        g = groups[-1] if groups else None
        if g and sp.value - g[-1][0] < 0.03 * (hi - lo) and \
                abs(math.log((y + 1) / (g[-1][1] + 1))) < 0.25:
            g.append((sp.value, y, name))
        else:
            groups.append([(sp.value, y, name)])
    for g in groups:
        names = list(dict.fromkeys(n for _v, _y, n in g))
        ax.annotate(", ".join(names), (g[0][0], max(y for _v, y, _n in g)),
                    textcoords="offset points", xytext=(3, 5), fontsize=8, color="C3")
    drawn = list(dict.fromkeys(sp.type for sp in a.special
                               if sp.confirmed and _y_at(a, sp) is not None))
    if drawn:
        ax.plot([], [], "o", color="C3", ms=5, label=f"special points ({', '.join(drawn)})")
    if any(not sp.confirmed and _y_at(a, sp) is not None for sp in a.special):
        ax.plot([], [], "o", color="C3", mfc="none", ms=5,
                label="unconfirmed label (type?; see the report)")
    ver = a.verification
    if ver is not None:
        for model, mk, col, dx in (("snn", "s", "C1", 0.0), ("markov", "^", "C2", 0.004)):
            obs = ver.observations.get(model, {})
            vs = sorted(obs)
            if not vs:
                continue
            for key, fill in (("rate_e_hz", col), ("peak_height_hz", "none")):
                m = [np.nanmean([r[key] for r in obs[v]]) for v in vs]
                s = [np.nanstd([r[key] for r in obs[v]], ddof=1) if len(obs[v]) > 1 else 0
                     for v in vs]
                ax.errorbar(np.array(vs) + dx * (hi - lo), m, yerr=s, fmt=mk, color=col,
                            mfc=fill, ms=5, capsize=2, lw=1,
                            label=f"{model.upper() if model == 'snn' else 'Markov'}: "
                                  f"{'mean E rate' if key == 'rate_e_hz' else 'MFE peak height'}"
                                  " (mean ± SD over seeds)")
    del ys
    ax.set_xlim(lo, hi)
    ax.set_ylabel("E rate (Hz per neuron)")
    ax.set_yscale("symlog", linthresh=20)
    ax.set_ylim(bottom=0)  # rates are >= 0: no negative decades
    ax.set_xlabel(a.param)
    ax.legend(fontsize=7, loc="lower left", ncol=2, framealpha=0.85)
    title = f"Reduced ODE ({a.bin_rule} rule, {a.closure} closure) against the SNN, " \
        f"N_E = {a.params.N_E}"
    if ver is not None:
        title += "\n" + ver.summary_line()
    ax.set_title(title, fontsize=9)

    from bifsnn.network.observables import DEFAULT_DELTA_M_EDGES

    edges = DEFAULT_DELTA_M_EDGES * 1000.0 / a.params.N_E  # Hz per neuron
    vals = np.array(a.scan_values)
    if vals.size:
        w = (vals[1] - vals[0]) if vals.size > 1 else (hi - lo)
        x_edges = np.concatenate([vals - w / 2, [vals[-1] + w / 2]])
        for k, (lists, name) in enumerate(((a.snn_delta_m, "SNN"), (a.ode_delta_m, "ODE"))):
            axh = fig.add_subplot(gs[1, k])
            rows = _dm_rows(list(vals), lists, edges)
            im = axh.pcolormesh(x_edges, edges, rows.T, cmap="magma_r", shading="flat",
                                vmin=0, vmax=1)
            fig.colorbar(im, ax=axh, label="log2(1 + fraction of Delta m)")
            axh.set_xlim(lo, hi)
            lim = np.nanmax(np.abs([d for dm in a.snn_delta_m for d in dm] or [1.0]))
            axh.set_ylim(-1.05 * lim, 1.05 * lim)
            axh.set_xlabel(a.param)
            axh.set_ylabel("Delta m (Hz per neuron)")
            sub = ("ODE: continued attractors" + (", time integration where marked x"
                                                  if "integration" in a.ode_delta_m_source
                                                  else "")) if name == "ODE" else \
                f"SNN: {len(a.options.scan_seeds)} seeds x {a.options.t_ms:g} ms per value"
            axh.set_title(f"Delta m diagram, {sub}", fontsize=8)
            if name == "ODE":
                xi = [v for v, s in zip(vals, a.ode_delta_m_source, strict=True)
                      if s == "integration"]
                axh.plot(xi, [0.97 * axh.get_ylim()[1]] * len(xi), "x", color="C0", ms=4)
                unk = [v for v, s in zip(vals, a.ode_delta_m_source, strict=True)
                       if s == "unknown"]
                if unk:
                    axh.plot(unk, [0] * len(unk), marker="$?$", color="0.5", ms=6, ls="none")
                    axh.text(0.01, 0.88, "?: no continued stable attractor, not integrated",
                             transform=axh.transAxes, fontsize=7, color="0.4")
                eq = [v for v, d in zip(vals, a.ode_delta_m, strict=True) if d == []]
                if eq:
                    axh.plot(eq, [0] * len(eq), "_", color="0.5", ms=6)
                    axh.text(0.01, 0.02, "grey dashes: stable equilibrium (no MFE)",
                             transform=axh.transAxes, fontsize=7, color="0.4")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def _y_at(a: Any, sp: Any) -> float | None:
    for c in a.eq_curves:
        for t, v, y in c["special"]:
            if t == sp.type and abs(v - sp.value) < 1e-6:
                return y
    for c in a.cycle_curves:
        for t, v in c["special"]:
            if t == sp.type and abs(v - sp.value) < 1e-6:
                j = int(np.argmin(np.abs(c["p"] - v)))
                h = c["peaks_hz"][j]
                return float(h.max()) if len(h) else None
    return None
