"""Sweep specs: enumeration, TOML form, and rejection of bad specs before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import sweep_fake_runners as fake

from bifsnn.network.params import NetworkParams
from bifsnn.sweeps import SweepSpec, SweepSpecError, load_spec, run_sweep

GOOD_TOML = """
name = "demo"
model = "snn"
t_ms = 500.0
seeds = [0, 7]
observables = ["rates", "regime"]

[base]
N_E = 200
N_I = 50

[grid]
p_EI = [0.5, 0.6, 0.7]
tau_EE = { start = 1.0, stop = 2.0, num = 2 }

[options.snn]
connectivity = "quenched"

[classifier]
sync_ratio_async = 2.0
"""


def test_grid_enumeration_order_and_values() -> None:
    spec = SweepSpec.from_toml(GOOD_TOML)
    assert spec.dims == ("p_EI", "tau_EE", "seed")
    assert spec.shape == (3, 2, 2) and spec.n_points == 12
    pts = spec.points_list()
    # C order: seed fastest, then tau_EE, then p_EI
    assert [(p.params.p_EI, p.params.tau_EE, p.seed) for p in pts[:4]] == [
        (0.5, 1.0, 0), (0.5, 1.0, 7), (0.5, 2.0, 0), (0.5, 2.0, 7)]
    assert all(p.params.N_E == 200 and p.params.N_I == 50 for p in pts)
    assert pts[5].coords == {"p_EI": 0.6, "tau_EE": 1.0, "seed": 7}
    assert pts[0].options == {"connectivity": "quenched"}
    assert len({p.key for p in pts}) == 12


def test_range_tables() -> None:
    spec = SweepSpec(grid={"p_EI": {"start": 0.3, "stop": 1.0, "num": 8},
                           "N_E": {"start": 100, "stop": 300, "step": 100},
                           "tau_EE": {"start": 1.0, "stop": 1.5, "step": 0.25}})
    assert spec.grid["p_EI"] == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # exact decimals
    assert spec.grid["N_E"] == [100, 200, 300]
    assert spec.grid["tau_EE"] == [1.0, 1.25, 1.5]  # stop included


def test_roundtrip_and_fingerprint() -> None:
    spec = SweepSpec.from_toml(GOOD_TOML)
    again = SweepSpec.from_dict(spec.to_dict())
    assert again.fingerprint() == spec.fingerprint()
    assert again.points_list() == spec.points_list()
    other = SweepSpec.from_toml(GOOD_TOML.replace("seeds = [0, 7]", "seeds = [0, 8]"))
    assert other.fingerprint() != spec.fingerprint()


def test_list_sweep_special_axes_and_scale() -> None:
    spec = SweepSpec(points=[{"p_EI": 0.5, "model": "markov"},
                             {"tau_EE": 2.0, "t_ms": 300.0, "scale": 2.0}], seeds=[1])
    assert spec.dims == ("point", "seed") and spec.shape == (2, 1)
    p0, p1 = spec.points_list()
    assert p0.model == "markov" and p0.params.p_EI == 0.5 and p0.t_ms == 1000.0
    assert p1.model == "snn" and p1.t_ms == 300.0
    assert p1.params == NetworkParams(tau_EE=2.0).scaled(2.0)
    assert spec.list_coords()["p_EI"] == [0.5, NetworkParams().p_EI]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(grid={"p_XY": [0.5]}), "unknown parameter name 'p_XY'"),
        (dict(grid={"p_EI": []}), "p_EI.*empty"),
        (dict(grid={"p_EI": {"start": 0.1, "stop": 0.5, "num": 0}}), "p_EI.*num = 0"),
        (dict(grid={"p_EI": {"start": 0.5, "stop": 0.1, "step": 0.1}}), "p_EI.*empty range"),
        (dict(grid={"p_EI": [0.5, 1.5]}), r"p_EI=1\.5.*p_EI = 1\.5 is out of range"),
        (dict(grid={"N_E": [100, 150.5]}), "N_E = 150.5 is out of range"),
        (dict(grid={"tau_R": [4.0, 0.05]}, base={"dt": 0.1}), "dt = 0.1 is out of range"),
        (dict(grid={"model": ["snn", "lif"]}), "model = 'lif' is out of range"),
        (dict(grid={"p_EI": [0.5]}, base={"lambda": 7}), "base: unknown parameter name 'lambda'"),
        (dict(grid={"p_EI": [0.5]}, t_ms=50.0), "transient_ms = 100.0 must be < t_ms = 50.0"),
        (dict(grid={"p_EI": [0.5]}, seeds=[]), "seeds: empty"),
        (dict(grid={"p_EI": [0.5]}, seeds=[1, 1]), "duplicate seeds"),
        (dict(grid={"p_EI": [0.5]}, observables=["rates", "lyapunov"]), "unknown observable"),
        (dict(grid={"p_EI": [0.5]}, options={"snn": {"t_ms": 5}}), "set by the sweep"),
        (dict(grid={"p_EI": [0.5]}, classifier={"bogus": 1}), "classifier"),
        (dict(points=[{"p_EI": 0.5}, {"S_EE": -1.0}]), r"points\[1\]|S_EE = -1.0"),
        (dict(grid={"seed": [1, 2]}), "top-level 'seeds'"),
        (dict(), "exactly one of 'grid'"),
    ],
)
def test_bad_specs_rejected_naming_the_parameter(kwargs: dict, match: str) -> None:
    with pytest.raises(SweepSpecError, match=match):
        SweepSpec(**kwargs)


def test_bad_toml_keys_and_files(tmp_path: Path) -> None:
    with pytest.raises(SweepSpecError, match="unknown sweep key.*p_EI"):
        SweepSpec.from_toml("p_EI = 0.5\n[grid]\ntau_EE = [1.0]\n")
    with pytest.raises(SweepSpecError, match="not valid TOML"):
        SweepSpec.from_toml("grid = [\n")
    with pytest.raises(SweepSpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")


def test_bad_spec_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A value out of range at the LAST grid point must stop the sweep before the first point.
    log = tmp_path / "calls.log"
    monkeypatch.setenv("BIFSNN_FAKE_LOG", str(log))
    bad = {"grid": {"p_EI": [0.5, 0.6, 1.2]}, "t_ms": 300.0}
    with pytest.raises(SweepSpecError, match="p_EI = 1.2 is out of range"):
        run_sweep(bad, tmp_path / "out", backend="serial", runners={"snn": fake.fake_point},
                  progress=False)
    assert not log.exists()
    assert not (tmp_path / "out").exists()
    # an unavailable runner is also caught before any work
    with pytest.raises(SweepSpecError, match="model kind 'snn': runner unavailable"):
        run_sweep({"grid": {"p_EI": [0.5]}, "t_ms": 300.0}, tmp_path / "out2",
                  backend="serial", runners={"snn": "no_such_module_xyz:run"}, progress=False)
    assert not (tmp_path / "out2").exists()


def test_optional_extras_are_imported_lazily() -> None:
    # xarray/dask are the optional "sweep" extra: importing the package must not need them.
    import subprocess
    import sys

    code = ("import sys, bifsnn.sweeps, bifsnn.cli.sweep; "
            "print(sorted(m for m in ('xarray', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
