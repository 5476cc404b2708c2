"""Plots: every figure is written as PNG and PDF, atomically, for what the result holds."""

from __future__ import annotations

import numpy as np
import pytest

from bifsnn.network import observables as obs
from bifsnn.network import plots
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import SimulationResult

DT = 0.1


def _synthetic_result(with_raster: bool) -> SimulationResult:
    """Small network (40 E, 10 I) firing MFEs every 20 ms plus sparse background spikes."""
    params = NetworkParams(N_E=40, N_I=10)
    rng = np.random.default_rng(0)
    n_steps = 4000
    neurons, steps = [], []
    for start in range(150, n_steps - 20, 200):
        for i in range(50):
            if rng.random() < 0.8:
                neurons.append(i)
                steps.append(start + rng.integers(0, 15))
    bg = rng.random((n_steps, 50)) < 0.002
    s_bg, n_bg = np.nonzero(bg)
    neurons = np.concatenate([neurons, n_bg]).astype(np.int64)
    steps = np.concatenate([steps, s_bg]).astype(np.int64)
    ce = np.bincount(steps[neurons < 40], minlength=n_steps)
    ci = np.bincount(steps[neurons >= 40], minlength=n_steps)
    return SimulationResult(
        model="synthetic", params=params, dt_ms=DT, spike_counts_e=ce, spike_counts_i=ci,
        seed=0, raster_neuron=neurons if with_raster else None,
        raster_step=steps if with_raster else None,
    )


@pytest.mark.parametrize("with_raster", [False, True])
def test_standard_plots_writes_png_and_pdf(tmp_path, with_raster):
    res = _synthetic_result(with_raster)
    written = plots.standard_plots(res, tmp_path, transient_ms=10.0)
    names = {p.name for p in written}
    expected = {"rates", "attractor_fE_fI", "delta_m_hist"} | ({"raster"} if with_raster else set())
    assert names == {f"{n}.{ext}" for n in expected for ext in ("png", "pdf")}
    for p in written:
        head = p.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else head.startswith(b"%PDF")
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_standard_plots_without_peaks_skips_delta_m(tmp_path):
    n = 3000
    res = SimulationResult(model="flat", params=NetworkParams(N_E=40, N_I=10), dt_ms=DT,
                           spike_counts_e=np.ones(n), spike_counts_i=np.zeros(n))
    names = {p.stem for p in plots.standard_plots(res, tmp_path, transient_ms=100.0)}
    assert names == {"rates", "attractor_fE_fI"}


def test_raster_requires_raster(tmp_path):
    with pytest.raises(ValueError, match="no raster"):
        plots.plot_raster(_synthetic_result(False), tmp_path / "r")


def test_delta_m_vs_parameter_plot(tmp_path):
    diag = obs.delta_m_vs_parameter(
        [(v, np.r_[np.full(20, 60 * v), -np.full(20, 60 * v)]) for v in (0.2, 0.4, 0.6, 0.8)]
    )
    plots.plot_delta_m_vs_parameter(diag, tmp_path / "dm_vs_pEI.png",
                                          parameter_name="p_EI")
    assert (tmp_path / "dm_vs_pEI.png").stat().st_size > 0
    assert (tmp_path / "dm_vs_pEI.pdf").stat().st_size > 0

    single = obs.delta_m_vs_parameter([(1.0, [0.0, 1.0])])  # one column must still plot
    plots.plot_delta_m_vs_parameter(single, tmp_path / "one")
    assert (tmp_path / "one.png").exists()


def test_voltage_histogram_plot_in_standard_plots(tmp_path):
    res = _synthetic_result(False)
    edges = np.arange(-40.0, 101.0, 4.0)
    t = np.arange(1, 401) * 1.0  # one sample per ms
    rng = np.random.default_rng(1)
    res.voltage_hist_t_ms = t
    res.voltage_hist_edges = edges
    res.voltage_hist_e = rng.multinomial(35, np.full(35, 1 / 35), size=t.size)
    res.voltage_hist_i = rng.multinomial(9, np.full(35, 1 / 35), size=t.size)
    names = {p.name for p in plots.standard_plots(res, tmp_path, transient_ms=10.0)}
    assert {"voltage_hist.png", "voltage_hist.pdf"} <= names
    with pytest.raises(ValueError, match="no voltage histogram sample"):
        plots.plot_voltage_histograms(res, transient_ms=1000.0)
