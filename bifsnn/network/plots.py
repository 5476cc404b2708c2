"""Figures of a run: raster with the smoothed rate under it, rate traces and spectrum, Delta m
histograms (one run, or against a parameter), attractor projections.

Every ``plot_*`` function returns the matplotlib ``Figure`` and, when ``path`` is given, saves
it as ``<path>.png`` and ``<path>.pdf`` (suffix of ``path`` ignored), each written atomically
through :func:`bifsnn._figures.save_figure`.  Figures are detached from pyplot: no backend
is selected and no global figure list grows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bifsnn._figures import save_figure, subplots
from bifsnn.network import observables as obs

__all__ = [
    "save_figure",
    "subplots",
    "plot_raster",
    "plot_rates",
    "plot_delta_m_histogram",
    "plot_delta_m_vs_parameter",
    "plot_attractor",
    "plot_voltage_histograms",
    "standard_plots",
]

COLOR_E = "#c0392b"
COLOR_I = "#2471a3"


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _time_window(result: Any, transient_ms: float, window_ms: float | None
                 ) -> tuple[int, int]:
    """Step range [k0, k1) to show: from the transient, at most ``window_ms`` long."""
    k0 = obs.transient_steps(transient_ms, result.dt_ms, result.n_steps)
    if window_ms is None:
        return k0, result.n_steps
    if window_ms <= 0:
        raise ValueError(f"window_ms = {window_ms!r} is out of range: must be > 0 or None")
    return k0, min(result.n_steps, k0 + int(round(window_ms / result.dt_ms)))


def _title(result: Any) -> str:
    p = result.params
    seed = "" if result.seed is None else f", seed {result.seed}"
    return f"{result.model}: N_E={p.N_E}, N_I={p.N_I}{seed}"


def plot_raster(result: Any, path: str | Path | None = None, *, transient_ms: float = 100.0,
                window_ms: float | None = 300.0) -> Figure:
    """Spike raster (E neurons, indices ``0..N_E-1``, in red below I in blue) with the 1 ms
    smoothed E and I population rates under it, over ``window_ms`` after the transient."""
    if result.raster_neuron is None or result.raster_step is None:
        raise ValueError("this result has no raster; rerun with raster_neurons='all'")
    k0, k1 = _time_window(result, transient_ms, window_ms)
    dt = result.dt_ms
    steps = np.asarray(result.raster_step)
    neurons = np.asarray(result.raster_neuron)
    sel = (steps >= k0) & (steps < k1)
    t_sp, n_sp = (steps[sel] + 1) * dt, neurons[sel]
    is_e = n_sp < result.params.N_E

    fig, (ax_r, ax_f) = subplots(
        2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    ms = 1.5 if sel.sum() < 20000 else 0.6
    ax_r.plot(t_sp[is_e], n_sp[is_e], "|", color=COLOR_E, ms=ms, mew=0.6, label="E")
    ax_r.plot(t_sp[~is_e], n_sp[~is_e], "|", color=COLOR_I, ms=ms, mew=0.6, label="I")
    ax_r.axhline(result.params.N_E - 0.5, color="0.6", lw=0.5)
    ax_r.set_ylim(-0.5, result.params.N_E + result.params.N_I - 0.5)
    ax_r.set_ylabel("neuron (E below, I above)")
    ax_r.set_title(_title(result))
    ax_r.legend(loc="upper right", markerscale=6, fontsize=8, framealpha=0.9)

    t = result.t_ms[k0:k1]
    f_e = obs.smooth_rate(result.rate_e, dt)[k0:k1]
    f_i = obs.smooth_rate(result.rate_i, dt)[k0:k1]
    ax_f.plot(t, f_e, color=COLOR_E, lw=0.8, label="E")
    ax_f.plot(t, f_i, color=COLOR_I, lw=0.8, label="I")
    ax_f.set_ylim(top=1.35 * max(float(f_e.max(initial=0)), float(f_i.max(initial=0)), 1.0))
    ax_f.set_xlabel("time (ms)")
    ax_f.set_ylabel("rate (spikes/ms)\n1 ms average")
    ax_f.legend(loc="upper right", fontsize=8)
    ax_f.set_xlim(k0 * dt, k1 * dt)
    fig.tight_layout()
    return _finish(fig, path)


def plot_rates(result: Any, path: str | Path | None = None, *, transient_ms: float = 100.0,
               window_ms: float | None = 300.0) -> Figure:
    """1 ms smoothed E and I population rates with the detected MFE peaks (top) and the
    Welch spectrum of the E rate over the whole post-transient record (bottom)."""
    k0, k1 = _time_window(result, transient_ms, window_ms)
    k_all = obs.transient_steps(transient_ms, result.dt_ms, result.n_steps)
    dt = result.dt_ms
    sm_e = obs.smooth_rate(result.rate_e, dt)
    sm_i = obs.smooth_rate(result.rate_i, dt)
    peaks = obs.mfe_peaks(sm_e[k_all:], dt)
    pk = peaks.indices + k_all
    in_win = (pk >= k0) & (pk < k1)

    fig, (ax_t, ax_s) = subplots(2, 1, figsize=(9, 6),
                                     gridspec_kw={"height_ratios": [1.6, 1]})
    t = result.t_ms
    ax_t.plot(t[k0:k1], sm_e[k0:k1], color=COLOR_E, lw=0.8, label="E")
    ax_t.plot(t[k0:k1], sm_i[k0:k1], color=COLOR_I, lw=0.8, label="I")
    ax_t.plot(t[pk[in_win]], sm_e[pk[in_win]], "v", color="k", ms=4,
              label=f"MFE peaks ({peaks.indices.size} in record)")
    ax_t.axhline(10.0, color="0.5", lw=0.5, ls=":")
    top = max(float(sm_e[k0:k1].max(initial=0)), float(sm_i[k0:k1].max(initial=0)), 1.0)
    ax_t.set_ylim(bottom=min(0.0, float(sm_e[k0:k1].min(initial=0))), top=1.3 * top)
    ax_t.set_xlim(k0 * dt, k1 * dt)
    ax_t.set_xlabel("time (ms)")
    ax_t.set_ylabel("rate (spikes/ms), 1 ms average")
    ax_t.set_title(_title(result))
    ax_t.legend(loc="upper right", fontsize=8)

    if result.n_steps - k_all >= 8:
        intervals = np.diff(peaks.indices) * dt
        near = 1000.0 / float(np.median(intervals)) if intervals.size >= 2 else None
        sp = obs.spectral_peak(result.rate_e[k_all:], dt, near_hz=near)
        keep = (sp.freqs_hz > 0) & (sp.psd > 0)
        if keep.any():
            ax_s.semilogy(sp.freqs_hz[keep], sp.psd[keep], color=COLOR_E, lw=0.8)
            top = float(sp.psd[keep].max())
            ax_s.set_ylim(max(float(sp.psd[keep].min()), top * 1e-8), top * 3)
        else:
            ax_s.text(0.5, 0.5, "no power (constant rate)", transform=ax_s.transAxes,
                      ha="center", va="center")
        if sp.success:
            ax_s.axvline(sp.frequency_hz, color="k", lw=0.5, ls="--",
                         label=f"peak {sp.frequency_hz:.1f} Hz")
            ax_s.legend(loc="upper right", fontsize=8)
        ax_s.set_xlim(0, min(300.0, sp.freqs_hz.max()))
    ax_s.set_xlabel("frequency (Hz)")
    ax_s.set_ylabel("PSD of E rate\n((spikes/ms)$^2$/Hz)")
    fig.tight_layout()
    return _finish(fig, path)


def plot_delta_m_histogram(delta_m: Any, path: str | Path | None = None, *,
                           edges: Any = obs.DEFAULT_DELTA_M_EDGES, title: str = "") -> Figure:
    """Normalised histogram of the MFE peak-height differences Delta m of one run."""
    h = obs.delta_m_histogram(delta_m, edges)
    fig, ax = subplots(figsize=(6, 3.5))
    ax.stairs(h.fraction, h.edges, fill=True, color=COLOR_E, alpha=0.8)
    ax.set_xlabel(r"$\Delta m$ (spikes/ms)")
    ax.set_ylabel("fraction of peak pairs")
    ax.set_title(title or f"{np.size(delta_m)} successive MFE peak differences")
    fig.tight_layout()
    return _finish(fig, path)


def plot_delta_m_vs_parameter(diagram: obs.DeltaMDiagram, path: str | Path | None = None, *,
                              parameter_name: str = "parameter", title: str = "") -> Figure:
    """The simulation-side bifurcation diagram: ``log2(1 + fraction)`` of the Delta m
    histogram (vertical) against the parameter (horizontal)."""
    v = np.asarray(diagram.parameter_values, dtype=float)
    if v.size >= 2:  # cell edges halfway between parameter values
        mid = 0.5 * (v[1:] + v[:-1])
        x_edges = np.concatenate(([v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]))
    else:
        x_edges = np.array([v[0] - 0.5, v[0] + 0.5])
    fig, ax = subplots(figsize=(7, 4.5))
    mesh = ax.pcolormesh(x_edges, diagram.edges, diagram.display.T, cmap="magma_r",
                         vmin=0.0, vmax=1.0, shading="flat")
    fig.colorbar(mesh, ax=ax, label=r"$\log_2(1 + \mathrm{fraction})$")
    ax.set_xlabel(parameter_name)
    ax.set_ylabel(r"$\Delta m$ (spikes/ms)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _finish(fig, path)


def plot_attractor(result: Any, path: str | Path | None = None, *, x: str = "f_E",
                   y: str = "f_I", transient_ms: float = 100.0,
                   window_ms: float = 1.0) -> Figure:
    """Trajectory after the transient projected on two variables (see
    :func:`bifsnn.network.observables.attractor_projection`)."""
    xs, ys = obs.attractor_projection(result, x, y, transient_ms=transient_ms,
                                      window_ms=window_ms)
    units = {"f_E": " (spikes/ms)", "f_I": " (spikes/ms)", "m_EE": " (pending spikes)",
             "m_EI": " (pending spikes)", "m_IE": " (pending spikes)",
             "m_II": " (pending spikes)"}
    fig, ax = subplots(figsize=(5, 5))
    ax.plot(xs, ys, color="k", lw=0.3, alpha=0.7)
    ax.set_xlabel(x + units.get(x, ""))
    ax.set_ylabel(y + units.get(y, ""))
    ax.set_title(_title(result))
    fig.tight_layout()
    return _finish(fig, path)


def plot_voltage_histograms(result: Any, path: str | Path | None = None, *,
                            transient_ms: float = 100.0) -> Figure:
    """Sampled voltage distributions of the non-refractory neurons, per population: a
    time-voltage heat map of the fraction of neurons per bin (left) and the time average of
    the density after the transient (right)."""
    if result.voltage_hist_e is None or result.voltage_hist_edges is None:
        raise ValueError("this result has no voltage histograms; rerun with "
                         "voltage_hist_every_ms=...")
    t = np.asarray(result.voltage_hist_t_ms, dtype=float)
    edges = np.asarray(result.voltage_hist_edges, dtype=float)
    keep = t > transient_ms
    if not keep.any():
        raise ValueError(f"no voltage histogram sample after transient_ms = {transient_ms!r}")
    fig, axes = subplots(2, 2, figsize=(10, 6), sharey=True,
                             gridspec_kw={"width_ratios": [3, 1]})
    for row, (hist, n_pop, name, color) in enumerate((
        (result.voltage_hist_e, result.params.N_E, "E", COLOR_E),
        (result.voltage_hist_i, result.params.N_I, "I", COLOR_I),
    )):
        frac = np.asarray(hist, dtype=float)[keep] / n_pop
        tk = t[keep]
        dt_s = np.median(np.diff(tk)) if tk.size > 1 else 1.0
        t_edges = np.concatenate(([tk[0] - dt_s], tk))
        ax_h, ax_m = axes[row]
        mesh = ax_h.pcolormesh(t_edges, edges, frac.T, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax_h, label="fraction of neurons")
        ax_h.set_ylabel(f"V ({name})")
        widths = np.diff(edges)
        ax_m.barh(edges[:-1], frac.mean(axis=0) / widths, height=widths, align="edge",
                  color=color, alpha=0.8)
        ax_m.set_xlabel("mean density (1/V)")
        ax_m.xaxis.set_major_locator(MaxNLocator(3))
    axes[1, 0].set_xlabel("time (ms)")
    axes[0, 0].set_title(_title(result) + ": voltage distribution (non-refractory)")
    fig.tight_layout()
    return _finish(fig, path)


def standard_plots(result: Any, out_dir: str | Path, transient_ms: float = 100.0
                   ) -> list[Path]:
    """Write the figures that the result supports into ``out_dir``; return the file paths.

    Always: ``rates`` (rates, MFE peaks, spectrum) and ``attractor_fE_fI``; ``delta_m_hist``
    when at least two MFE peaks exist; ``attractor_mEE_mEI`` when the moments m_EE, m_EI
    were recorded (reduced models); ``raster`` only if a raster was recorded;
    ``voltage_hist`` only if voltage histograms were sampled after the transient.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def emit(fig: Figure, name: str) -> None:
        written.extend(save_figure(fig, out / name))

    emit(plot_rates(result, transient_ms=transient_ms), "rates")
    emit(plot_attractor(result, transient_ms=transient_ms), "attractor_fE_fI")
    names = obs.state_variable_names(result)
    if "m_EE" in names and "m_EI" in names:
        t_state = np.asarray(result.extra.get("state_t_ms", result.t_ms))
        if np.count_nonzero(t_state > transient_ms) >= 2:
            emit(plot_attractor(result, x="m_EE", y="m_EI", transient_ms=transient_ms),
                 "attractor_mEE_mEI")
    k = obs.transient_steps(transient_ms, result.dt_ms, result.n_steps)
    heights = obs.mfe_peaks(obs.smooth_rate(result.rate_e, result.dt_ms)[k:],
                            result.dt_ms).heights
    if heights.size >= 2:
        emit(plot_delta_m_histogram(obs.peak_differences(heights)), "delta_m_hist")
    if result.raster_neuron is not None and result.raster_step is not None:
        emit(plot_raster(result, transient_ms=transient_ms), "raster")
    if (result.voltage_hist_e is not None and result.voltage_hist_t_ms is not None
            and np.any(np.asarray(result.voltage_hist_t_ms) > transient_ms)):
        emit(plot_voltage_histograms(result, transient_ms=transient_ms), "voltage_hist")
    return written
