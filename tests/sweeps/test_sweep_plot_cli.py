"""Regime-map plots and the ``bifsnn sweep`` / ``bifsnn sweep-map`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sweep_fake_runners as fake

from bifsnn.cli import main
from bifsnn.sweeps import SweepSpec, plot_regime_map, run_sweep
from bifsnn.sweeps.plot import reduce_to_2d

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def fake_ds(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("plot") / "sweep"
    spec = SweepSpec(grid={"p_EI": [0.5, 0.6, 0.7], "tau_EE": [1.2, 1.4],
                           "lambda_ext": [6.0, 7.0]}, seeds=[0, 1, 2], t_ms=300.0)
    # failing_point raises at p_EI = 0.7, giving a "no result" column next to regular-MFE
    res = run_sweep(spec, out, backend="serial", runners={"snn": fake.failing_point},
                    progress=False)
    return res.dataset()


def test_regime_map_png_pdf_with_curves(fake_ds, tmp_path: Path) -> None:
    curves = {"Hopf": np.array([[0.5, 1.2], [0.7, 1.4]]), "fold": [[0.55, 1.3], [0.65, 1.25]]}
    m = plot_regime_map(fake_ds, "p_EI", "tau_EE", select={"lambda_ext": 7.0}, curves=curves,
                        out=tmp_path / "map.png")
    assert [p.name for p in m.paths] == ["map.png", "map.pdf"]
    assert m.paths[0].read_bytes()[:4] == PNG_MAGIC
    assert m.paths[1].read_bytes()[:5] == b"%PDF-"
    # values are (y, x): rows tau_EE, columns p_EI; p_EI = 0.7 failed -> no label
    assert m.values.shape == (2, 3)
    assert m.values[:, :2].ravel().tolist() == ["regular-MFE"] * 4
    assert m.values[:, 2].tolist() == ["", ""]
    assert "3 seeds" in m.notes[0]
    # regime legend (figure level) names the classes shown; curve legend inside the axes
    (legend,) = m.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["regular-MFE", "no result"]
    assert [t.get_text() for t in m.figure.axes[0].get_legend().get_texts()] == ["Hopf", "fold"]


def test_numeric_map_is_seed_mean(fake_ds, tmp_path: Path) -> None:
    m = plot_regime_map(fake_ds, "tau_EE", "p_EI", "rate_e_hz", select={"lambda_ext": 6.0},
                        out=tmp_path / "rate")
    expected = fake_ds["rate_e_hz"].sel(lambda_ext=6.0).mean("seed").transpose("p_EI", "tau_EE")
    # mean over seeds, exact up to summation order (1e-12 relative)
    np.testing.assert_allclose(m.values[:2], expected.values[:2], rtol=1e-12)
    assert np.isnan(m.values[2]).all()  # failed points stay NaN, not 0


def test_map_errors_name_the_problem(fake_ds) -> None:
    with pytest.raises(ValueError, match=r"further dimensions \['lambda_ext'\]"):
        reduce_to_2d(fake_ds, "p_EI", "tau_EE", "regime")
    with pytest.raises(ValueError, match="'bogus' is not in the sweep"):
        reduce_to_2d(fake_ds, "p_EI", "tau_EE", "bogus")
    with pytest.raises(ValueError, match="curve Hopf: expected an \\(n, 2\\) array"):
        plot_regime_map(fake_ds, "p_EI", "tau_EE", select={"lambda_ext": 6.0},
                        curves={"Hopf": np.zeros((4, 3))})


SPEC = """
name = "cli"
t_ms = 300.0
seeds = [0]
observables = ["rates", "ssi", "delta_m", "regime"]
[grid]
p_EI = [0.5, 0.6]
tau_EE = [1.2, 1.4, 1.6]
"""


def test_cli_sweep_dry_run_run_resume_and_map(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    runner = ["--runner", "snn=sweep_fake_runners:fake_point"]
    assert main(["sweep", str(spec), "--out", str(out), "--dry-run"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_points"] == 6 and info["n_todo"] == 6 and info["dims"][-1] == "seed"
    assert main(["sweep", str(spec), "--out", str(out), "--backend", "serial", "--no-progress",
                 "--max-points", "4", *runner]) == 0
    assert "4/6 points successful" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(out), "--backend", "serial", "--no-progress",
                 "--plot", "p_EI", "tau_EE", *runner]) == 0
    text = capsys.readouterr().out
    assert "all 6 points done" in text and "skipped 4 already done" in text
    assert (out / "map_regime_p_EI_tau_EE.png").exists()
    curve = tmp_path / "hopf.csv"
    curve.write_text("0.5,1.2\n0.6,1.6\n")
    assert main(["sweep-map", str(out), "--x", "p_EI", "--y", "tau_EE", "--var", "ssi_e",
                 "--curve", str(curve), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m.pdf").exists()


def test_cli_bad_spec_exit_code_and_message(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.replace("p_EI = [0.5, 0.6]", "p_EI = [0.5, 1.6]"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--backend", "serial"]) == 2
    err = capsys.readouterr().err
    assert "p_EI = 1.6 is out of range" in err
    assert not (tmp_path / "o").exists()


def test_delta_m_diagram_pools_seeds_weighted_by_count(tmp_path: Path) -> None:
    import xarray as xr

    from bifsnn.sweeps.classify import DELTA_M_EDGES
    from bifsnn.sweeps.plot import delta_m_diagram, plot_delta_m_diagram

    nb = len(DELTA_M_EDGES) - 1
    hist = np.zeros((2, 2, nb))
    hist[0, 0, 10] = 1.0  # seed 0: all Delta m in bin 10 (2 values: 3 peaks)
    hist[0, 1, 20] = 1.0  # seed 1: all in bin 20 (4 values: 5 peaks)
    ds = xr.Dataset(
        {"delta_m_hist": (("p_EI", "seed", "delta_m"), hist),
         "n_peaks": (("p_EI", "seed"), np.array([[3.0, 5.0], [1.0, np.nan]]))},
        coords={"p_EI": [0.5, 0.6], "seed": [0, 1]},
    )
    d = delta_m_diagram(ds, "p_EI")
    # exact weighted pooling (1e-12: float rounding only)
    assert d.fraction[0, 10] == pytest.approx(2 / 6, abs=1e-12)
    assert d.fraction[0, 20] == pytest.approx(4 / 6, abs=1e-12)
    assert d.fraction[1].sum() == 0.0 and d.n_values.tolist() == [6, 0]
    m = plot_delta_m_diagram(ds, "p_EI", out=tmp_path / "dm")
    assert m.paths[0].read_bytes()[:4] == PNG_MAGIC
    with pytest.raises(ValueError, match=r"select: p_EI = 0.55 is not in the sweep"):
        delta_m_diagram(ds.expand_dims(tau_EE=[1.0]), "seed", select={"p_EI": 0.55})
    with pytest.raises(ValueError, match="no 'delta_m_hist'"):
        delta_m_diagram(ds.drop_vars("delta_m_hist"), "p_EI")
