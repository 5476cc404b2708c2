"""Sweep engine: backend equivalence, failures, resume after a kill, store and xarray form."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sweep_fake_runners as fake
import xarray as xr

from bifsnn.sweeps import SweepSpec, SweepStoreError, load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
FAKE = {"snn": fake.fake_point}
GRID = {"p_EI": [0.5, 0.6, 0.7], "tau_EE": [1.2, 1.4]}


def _fake_spec(**kw) -> SweepSpec:
    return SweepSpec(grid=GRID, seeds=[0, 1], t_ms=300.0,
                     observables=["rates", "ssi", "spectral_peak", "delta_m", "delta_m_hist",
                                  "regime"], **kw)


def _results(ds: xr.Dataset) -> xr.Dataset:
    """The computed content (drops timing, which legitimately differs between runs)."""
    return ds.drop_vars(["elapsed_s"])


def test_serial_pool_dask_identical_fake(tmp_path: Path) -> None:
    # Bit-identical observables (assert_identical on values; attrs excluded from comparison
    # except the fingerprint) on serial, a 2-process pool and a 2-worker Dask LocalCluster.
    spec = _fake_spec()
    runs = {
        "serial": run_sweep(spec, tmp_path / "s", backend="serial", runners=FAKE,
                            progress=False),
        "pool": run_sweep(spec, tmp_path / "p", backend="pool", workers=2, runners=FAKE,
                          progress=False),
        "dask": run_sweep(spec, tmp_path / "d", backend="dask", workers=2,
                          dask_processes=False, runners=FAKE, progress=False),
    }
    for name, res in runs.items():
        assert res.success and res.n_run == 12 and res.n_error == 0, (name, res)
    ref = _results(runs["serial"].dataset())
    assert ref.sizes == {"p_EI": 3, "tau_EE": 2, "seed": 2, "delta_m": 120}
    assert set(ref["regime"].values.ravel()) == {"regular-MFE"}
    for name in ("pool", "dask"):
        other = _results(runs[name].dataset())
        xr.testing.assert_equal(ref, other)
        assert other.attrs["fingerprint"] == ref.attrs["fingerprint"]


def test_serial_pool_dask_identical_real_snn(tmp_path: Path) -> None:
    # Same check on real seeded SNN points (numba kernels, default dispatch table).
    spec = SweepSpec(grid={"p_EI": [0.6, 0.8]}, seeds=[0, 1], t_ms=250.0,
                     base={"N_E": 150, "N_I": 50, "S_EE": 1.9, "S_IE": 2.5, "S_EI": 5.42,
                           "S_II": 4.9})
    ref = _results(run_sweep(spec, tmp_path / "s", backend="serial", progress=False).dataset())
    assert (ref["status"] == "ok").all()
    for name, kw in (("pool", {"workers": 2}), ("dask", {"workers": 2, "dask_processes": False})):
        res = run_sweep(spec, tmp_path / name, backend=name, progress=False, **kw)
        xr.testing.assert_equal(ref, _results(res.dataset()))


def test_pool_workers_warm_up_once(tmp_path: Path) -> None:
    # Each pool worker runs the runner's warm-up exactly once (in its initializer) and every
    # point ran in a warmed-up worker process, not in the driver.
    warm, calls = tmp_path / "warm.log", tmp_path / "calls.log"
    runner = fake.LoggingRunner(str(warm), str(calls))
    res = run_sweep(_fake_spec(), tmp_path / "p", backend="pool", workers=2,
                    runners={"snn": runner}, progress=False)
    assert res.success
    warm_pids = warm.read_text().split()
    assert 1 <= len(warm_pids) <= 2 and len(set(warm_pids)) == len(warm_pids)
    call_pids = {line.split()[0] for line in calls.read_text().splitlines()}
    assert len(calls.read_text().splitlines()) == 12
    assert call_pids <= set(warm_pids)
    assert str(os.getpid()) not in call_pids


def test_failing_point_recorded_and_sweep_goes_on(tmp_path: Path) -> None:
    spec = _fake_spec()
    res = run_sweep(spec, tmp_path / "f", backend="pool", workers=2,
                    runners={"snn": fake.failing_point}, progress=False)
    # p_EI = 0.7 fails: 1 of 3 values x 2 tau x 2 seeds = 4 points
    assert (res.n_ok, res.n_error, res.success) == (8, 4, False)
    ds = res.dataset()
    bad = ds.sel(p_EI=0.7)
    assert set(bad["status"].values.ravel()) == {"error"}
    assert all("deliberate failure at p_EI=0.7" in e for e in bad["error"].values.ravel())
    assert np.isnan(bad["rate_e_hz"].values).all()
    good = ds.sel(p_EI=[0.5, 0.6])
    assert set(good["status"].values.ravel()) == {"ok"}
    assert ds.attrs["n_ok"] == 8 and ds.attrs["n_error"] == 4
    # resume skips failed points by default, recomputes them on request
    again = run_sweep(spec, tmp_path / "f", backend="serial",
                      runners={"snn": fake.failing_point}, progress=False)
    assert again.n_run == 0 and again.n_skipped == 12
    retry = run_sweep(spec, tmp_path / "f", backend="serial", runners=FAKE,
                      retry_failed=True, progress=False)
    assert retry.n_run == 4 and retry.success


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import sweep_fake_runners as fake
from bifsnn.sweeps import SweepSpec, run_sweep
spec = SweepSpec(grid={{"p_EI": [0.1 * k for k in range(1, 9)], "tau_EE": [1.0, 1.5, 2.0]}},
                 seeds=[0], t_ms=300.0, observables=["rates", "regime"])
run_sweep(spec, {out!r}, backend="pool", workers=2, runners={{"snn": fake.fake_point}},
          progress=False)
"""


def test_killed_sweep_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    out = tmp_path / "k"
    env = {**os.environ, "BIFSNN_FAKE_DELAY_S": "0.15",
           "BIFSNN_FAKE_LOG": str(tmp_path / "first.log")}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT.format(here=str(HERE),
                                                                       out=str(out))],
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list(out.glob("points/p*.json"))) >= 6:
                break
            time.sleep(0.05)
        else:
            pytest.fail("sweep subprocess produced no points within 60 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers
        proc.wait(timeout=30)
    before = {f.name: (f.stat().st_mtime_ns, f.read_text())
              for f in (out / "points").glob("p*.json")}
    assert 6 <= len(before) < 24, len(before)

    spec = SweepSpec(grid={"p_EI": [0.1 * k for k in range(1, 9)], "tau_EE": [1.0, 1.5, 2.0]},
                     seeds=[0], t_ms=300.0, observables=["rates", "regime"])
    log = tmp_path / "second.log"
    os.environ["BIFSNN_FAKE_LOG"] = str(log)
    try:
        res = run_sweep(spec, out, backend="serial", runners=FAKE, progress=False)
    finally:
        del os.environ["BIFSNN_FAKE_LOG"]
    assert res.success and res.n_skipped == len(before) and res.n_run == 24 - len(before)
    # finished points were not recomputed or rewritten
    for name, (mtime, text) in before.items():
        f = out / "points" / name
        assert f.stat().st_mtime_ns == mtime and f.read_text() == text
    # the resumed run computed exactly the missing points, each once
    lines = log.read_text().splitlines()
    assert len(lines) == len(set(lines)) == 24 - len(before)
    files = sorted(p.name for p in (out / "points").glob("p*.json"))
    assert files == [f"p{i:07d}.json" for i in range(24)]
    assert not list((out / "points").glob(".*"))  # no leftover temporary files
    ds = load_sweep(out)
    assert (ds["status"] == "ok").all() and ds.attrs["n_missing"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][-1]["n_todo"] == 24 - len(before)


def test_store_refuses_other_sweep_and_foreign_dir(tmp_path: Path) -> None:
    run_sweep(_fake_spec(), tmp_path / "a", backend="serial", runners=FAKE, progress=False)
    with pytest.raises(SweepStoreError, match="different sweep"):
        run_sweep(_fake_spec(transient_ms=50.0), tmp_path / "a", backend="serial",
                  runners=FAKE, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(SweepStoreError, match="not a sweep store"):
        run_sweep(_fake_spec(), tmp_path / "junk", backend="serial", runners=FAKE,
                  progress=False)


def test_dataset_keeps_params_seeds_version_and_list_coords(tmp_path: Path) -> None:
    spec = SweepSpec(points=[{"p_EI": 0.5, "tau_EE": 1.2}, {"p_EI": 0.6, "scale": 2.0}],
                     seeds=[3, 4], t_ms=300.0, base={"lambda_ext": 6.0},
                     observables=["rates", "regime"])
    res = run_sweep(spec, tmp_path / "l", backend="serial", runners=FAKE, progress=False,
                    max_points=3)
    assert res.n_run == 3 and not res.success and "1 not run yet" in res.message
    ds = res.dataset()
    assert ds.sizes == {"point": 2, "seed": 2}
    assert list(ds["seed"].values) == [3, 4]
    assert list(ds["p_EI"].values) == [0.5, 0.6]  # per-entry coordinate along "point"
    assert ds["param_N_E"].sel(point=1).values.tolist() == [600.0, 600.0]  # scaled x2
    assert (ds["param_lambda_ext"] == 6.0).all()
    assert ds["status"].values.tolist() == [["ok", "ok"], ["ok", "missing"]]
    from bifsnn import __version__

    assert ds.attrs["bifsnn_version"] == __version__
    assert ds["point_version"].values[0, 0] == __version__
    assert json.loads(ds.attrs["spec_json"])["base"] == {"lambda_ext": 6.0}


def test_keep_spikes_and_simulation_result_path(tmp_path: Path) -> None:
    # A runner returning a SimulationResult goes through bifsnn.network.observables.summary; the raw
    # result is kept as HDF5 when asked.  Periodic 40-spike bins every 20 ms: the smoothed
    # peak is exactly 40 spikes / 1 ms window = 40 spikes/ms and the interval 20 ms.
    from bifsnn.network.results import load_result

    spec = SweepSpec(grid={"p_EI": [0.5]}, seeds=[0], t_ms=500.0, keep_spikes=True,
                     observables=["rates", "delta_m", "regime"])
    res = run_sweep(spec, tmp_path / "r", backend="serial",
                    runners={"snn": fake.result_point}, progress=False)
    assert res.success
    ds = res.dataset()
    assert float(ds["peak_height_mean"].squeeze()) == pytest.approx(40.0, rel=1e-9)
    assert float(ds["interval_mean_ms"].squeeze()) == pytest.approx(20.0, rel=1e-9)
    h5 = tmp_path / "r" / "spikes" / "p0000000.h5"
    assert load_result(h5).params.p_EI == 0.5


def test_real_snn_and_markov_points_serial(tmp_path: Path) -> None:
    # The default dispatch table on real (small) simulations; the same seed twice must give
    # identical observables (exact equality: the simulators are seeded and deterministic).
    spec = SweepSpec(grid={"model": ["snn", "markov"], "p_EI": [0.8]}, seeds=[0],
                     t_ms=300.0, base={"N_E": 150, "N_I": 50, "S_EE": 1.9, "S_IE": 2.5,
                                       "S_EI": 5.42, "S_II": 4.9})
    a = run_sweep(spec, tmp_path / "a", backend="serial", progress=False)
    b = run_sweep(spec, tmp_path / "b", backend="serial", progress=False)
    assert a.success and b.success, (a.message, b.message)
    da, db = _results(a.dataset()), _results(b.dataset())
    xr.testing.assert_equal(da, db)
    assert (da["rate_e_hz"] > 0).all()
    assert set(da["regime"].values.ravel()) <= {"asynchronous", "regular-MFE",
                                                "alternating-MFE", "irregular"}


def test_reduced_model_options_validated_up_front(tmp_path: Path) -> None:
    # map/ode options are MarkovModelDef fields + integrator keywords, checked before work.
    from bifsnn.sweeps import SweepSpecError

    for opts, match in (({"bogus": 1}, r"options.ode: unknown option\(s\) \['bogus'\]"),
                        ({"dv": 3.0}, "dv = 3.0 is out of range")):
        with pytest.raises(SweepSpecError, match=match):
            run_sweep(SweepSpec(grid={"model": ["ode"]}, t_ms=300.0, options={"ode": opts}),
                      tmp_path / "o", backend="serial", progress=False)
    with pytest.raises(SweepSpecError, match=r"unknown option\(s\) \['conectivity'\]"):
        run_sweep(SweepSpec(grid={"p_EI": [0.5]}, t_ms=300.0,
                            options={"snn": {"conectivity": "quenched"}}),
                  tmp_path / "s", backend="serial", progress=False)
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_map_and_ode_points(tmp_path: Path) -> None:
    # The reduced models through the default table (compiles the generated model: slow).
    # Deterministic models: two runs must agree exactly.
    spec = SweepSpec(grid={"model": ["map", "ode"], "p_EI": [0.8]}, seeds=[0], t_ms=300.0,
                     options={"map": {"bin_rule": "reference"}, "ode": {"rtol": 1e-5}})
    a = run_sweep(spec, tmp_path / "a", backend="serial", progress=False)
    b = run_sweep(spec, tmp_path / "b", backend="pool", workers=2, progress=False)
    assert a.success and b.success, (a.message, b.message)
    xr.testing.assert_equal(_results(a.dataset()), _results(b.dataset()))
    assert (a.dataset()["rate_e_hz"] > 0).all()


def test_pool_survives_worker_death(tmp_path: Path) -> None:
    # Points whose worker dies are recorded as failed; points that were merely in flight at
    # the same time are rerun (alone) and succeed.
    res = run_sweep(_fake_spec(), tmp_path / "c", backend="pool", workers=2,
                    runners={"snn": fake.crashing_point}, progress=False)
    assert (res.n_ok, res.n_error) == (8, 4), res
    ds = res.dataset()
    assert set(ds["status"].sel(p_EI=0.7).values.ravel()) == {"error"}
    assert all("worker process died" in e for e in ds["error"].sel(p_EI=0.7).values.ravel())
    assert set(ds["status"].sel(p_EI=[0.5, 0.6]).values.ravel()) == {"ok"}


def test_dask_on_scheduler_address_and_missing_extra(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        res = run_sweep(_fake_spec(), tmp_path / "d", backend="dask",
                        scheduler=cluster.scheduler_address, runners=FAKE, progress=False)
    assert res.success and res.n_run == 12
    # without the optional extra: a clear error naming it, before any work
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"optional 'sweep' extra"):
        run_sweep(_fake_spec(), tmp_path / "e", backend="dask", runners=FAKE, progress=False)
    assert not (tmp_path / "e").exists()
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"needs xarray.*'sweep' extra"):
        load_sweep(tmp_path / "d")


def test_progress_bar_with_eta_and_netcdf_roundtrip(tmp_path: Path, capsys) -> None:
    # tqdm progress (count, rate and ETA fields) is printed by the driver for any backend;
    # on resume the bar starts at the number of finished points.
    spec = _fake_spec()
    run_sweep(spec, tmp_path / "a", backend="serial", runners=FAKE, progress=True,
              max_points=5)
    err = capsys.readouterr().err
    assert "sweep[serial]" in err and "5/12" in err and "<" in err  # "elapsed<remaining"
    run_sweep(spec, tmp_path / "a", backend="serial", runners=FAKE, progress=True)
    err = capsys.readouterr().err
    assert "12/12" in err and "5/12" in err and "0/12" not in err
    ds = load_sweep(tmp_path / "a")
    ds.to_netcdf(tmp_path / "a.nc")
    xr.testing.assert_identical(ds, xr.load_dataset(tmp_path / "a.nc"))


def test_store_lock_and_stale_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "lk"
    spec = _fake_spec()
    run_sweep(spec, out, backend="serial", runners=FAKE, progress=False, max_points=2)
    assert not (out / ".lock.info").exists()  # released after the run
    # another live process holds the store (an OS file lock) -> refuse, naming it
    code = ("import time\nfrom bifsnn.sweeps.store import SweepStore\n"
            f"store = SweepStore({str(out)!r})\nstore.acquire()\n"
            "print('held', flush=True)\ntime.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SweepStoreError, match=f"in use by another sweep .pid {holder.pid}"):
            run_sweep(spec, out, backend="serial", runners=FAKE, progress=False)
    finally:
        holder.kill()  # a killed holder: the OS releases its lock at once
        holder.wait()
    (out / "points" / ".p0000005.json.abc.tmp").write_text("{half")
    res = run_sweep(spec, out, backend="serial", runners=FAKE, progress=False)
    assert res.success and res.n_skipped == 2
    assert not list((out / "points").glob(".*"))
