"""Fault injection (issue 13): damaged files, bad inputs, a simultaneous-start race on a sweep
store.  Every case must end in a one-line error naming the culprit (or identical data), never
in silently different results, a traceback or lost work.  Fast: part of the default run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bifsnn._h5files import DamagedFileError
from bifsnn.network.params import NetworkParams
from bifsnn.network.results import SimulationResult, load_result, save_result

# ----------------------------------------------------------------------------- helpers


def same(a: Any, b: Any) -> bool:
    """Deep equality of loaded objects (arrays bit-for-bit, NaN equal to NaN)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        return all(same(getattr(a, f.name), getattr(b, f.name))
                   for f in dataclasses.fields(a) if f.compare)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return (isinstance(b, list | tuple) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def flip_trials(path: Path, load: Any, reference: Any, n: int, seed: int) -> dict[str, int]:
    """Change one byte at ``n`` random positions (one at a time) and load each damaged copy:
    it must be refused with a DamagedFileError naming the file, or load identical data."""
    rng = np.random.default_rng(seed)
    data = path.read_bytes()
    damaged = path.with_name("damaged_" + path.name)
    counts = {"refused": 0, "identical": 0}
    for _ in range(n):
        pos = int(rng.integers(len(data)))
        buf = bytearray(data)
        buf[pos] ^= int(rng.integers(1, 256))
        damaged.write_bytes(bytes(buf))
        try:
            back = load(damaged)
        except DamagedFileError as exc:
            assert str(damaged) in str(exc) and "\n" not in str(exc), str(exc)
            counts["refused"] += 1
            continue
        assert same(back, reference), f"byte {pos}: loaded silently different data"
        counts["identical"] += 1
    return counts


# ----------------------------------------------------------------------------- result files


def small_result(seed: int | None = 3) -> SimulationResult:
    rng = np.random.default_rng(0)
    n = 400
    return SimulationResult(
        model="snn", params=NetworkParams(p_EI=0.55), dt_ms=0.1,
        spike_counts_e=rng.poisson(2.0, n), spike_counts_i=rng.poisson(1.0, n), seed=seed,
        options={"drive": "gaussian", "t_ms": 40.0},
        raster_neuron=rng.integers(0, 400, 50), raster_step=np.sort(rng.integers(0, n, 50)),
        voltage_hist_t_ms=np.array([10.0, 20.0]), voltage_hist_edges=np.arange(0.0, 5.0),
        voltage_hist_e=rng.integers(0, 9, (2, 2, 4)), voltage_hist_i=rng.integers(0, 9, (2, 2, 4)),
        extra={"note": np.arange(3.0)},
    )


def test_result_file_byte_flips_are_refused_or_harmless(tmp_path: Path) -> None:
    ref = small_result()
    path = save_result(ref, tmp_path / "result.h5")
    assert same(load_result(path), ref)
    counts = flip_trials(path, load_result, ref, n=300, seed=13)
    assert counts["refused"] > 0  # the flips do hit the content


def test_result_seed_up_to_2_64_round_trips(tmp_path: Path) -> None:
    for seed in (None, 0, 2**63 + 5, 2**64 - 1):
        res = small_result(seed)
        assert load_result(save_result(res, tmp_path / "r.h5")).seed == seed


def _set_attr(path: Path, key: str, value: Any, *, resign: bool) -> None:
    import h5py

    from bifsnn._h5files import sign_file

    with h5py.File(path, "r+") as h5:
        h5.attrs[key] = value
    if resign:
        sign_file(path)


def test_result_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = save_result(small_result(), tmp_path / "r.h5")
    _set_attr(path, "format_version", 99, resign=True)
    with pytest.raises(DamagedFileError, match=r"r\.h5: format_version = 99 is newer"):
        load_result(path)


def test_result_length_mismatch_is_refused(tmp_path: Path) -> None:
    import h5py

    from bifsnn._h5files import sign_file

    path = save_result(small_result(), tmp_path / "r.h5")
    with h5py.File(path, "r+") as h5:  # a valid checksum over inconsistent arrays
        del h5["spike_counts_i"]
        h5.create_dataset("spike_counts_i", data=np.zeros(399, int))
    sign_file(path)
    with pytest.raises(DamagedFileError, match="spike_counts_e .* must be 1-D of one length"):
        load_result(path)
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        save_result(dataclasses.replace(small_result(), spike_counts_i=np.zeros(3)),
                    tmp_path / "bad.h5")


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all\n", b"\x89HDF\r\n\x1a\n" + bytes(64)])
def test_result_garbage_file_is_refused_with_its_name(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.h5"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError, match="junk.h5"):
        load_result(path)
    with pytest.raises(DamagedFileError, match="missing.h5: no such file"):
        load_result(tmp_path / "missing.h5")


def test_unsigned_file_is_refused_unless_version_1(tmp_path: Path) -> None:
    import h5py

    path = save_result(small_result(), tmp_path / "r.h5")
    plain = tmp_path / "plain.h5"
    plain.write_bytes(path.read_bytes()[512:])  # the HDF5 file without its signature block
    with h5py.File(plain, "r") as h5:
        assert h5.attrs["format_version"] == 2
    with pytest.raises(DamagedFileError, match="checksum block is missing"):
        load_result(plain)
    with h5py.File(plain, "r+") as h5:  # a file as bifsnn wrote it before checksums
        h5.attrs["format_version"] = 1
        h5.attrs["seed"] = np.int64(-1)
        del h5.attrs["has_seed"]
    old = load_result(plain)
    assert old.seed is None and np.array_equal(old.spike_counts_e, small_result().spike_counts_e)


# ----------------------------------------------------------------------------- branch files


@pytest.fixture(scope="module")
def branches() -> tuple[Any, Any]:
    from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria
    from bifsnn.continuation.periodic import (
        Collocation,
        continue_cycles_from_orbit,
        cycle_from_hopf,
    )
    from bifsnn.continuation.periodic.examples import bautin_2p

    def f(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.array([p[0] - (p[1] + 1) * x[0] + x[0] ** 2 * x[1],
                         p[1] * x[0] - x[0] ** 2 * x[1]])

    pr = ODEProblem(f, [1.0, 0.5], [1.0, 0.5], param="b", param_names=("a", "b"),
                    x_names=("x", "y"))
    eq = continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.5, p_max=4))
    s = bautin_2p(0.0, 1.0)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, np.array([1.0, -1j]) / np.sqrt(2), ntst=6)
    cyc = continue_cycles_from_orbit(s, start, ContinuationOptions(
        ds=0.05, ds_max=1.0, max_steps=6, p_min=-0.5, p_max=0.5), Collocation(ntst=6))
    return eq, cyc


def _comparable(branch: Any) -> Any:
    return dataclasses.replace(branch, problem=None)


@pytest.mark.parametrize("which", ["equilibria", "cycles"])
def test_branch_file_byte_flips_are_refused_or_harmless(tmp_path: Path, branches: Any,
                                                        which: str) -> None:
    from bifsnn.continuation.io import load_branch, save_branch

    br = branches[0] if which == "equilibria" else branches[1]
    path = save_branch(br, tmp_path / "branch.h5")
    ref = load_branch(path)
    assert same(_comparable(ref), _comparable(br))
    counts = flip_trials(path, load_branch, ref, n=200, seed=7)
    assert counts["refused"] > 0


def test_branch_newer_format_version_is_refused(tmp_path: Path, branches: Any) -> None:
    from bifsnn.continuation.io import load_branch, save_branch

    path = save_branch(branches[0], tmp_path / "b.h5")
    _set_attr(path, "format_version", 99, resign=True)
    with pytest.raises(DamagedFileError, match=r"b\.h5: format_version = 99 is newer"):
        load_branch(path)
    path = save_branch(branches[0], tmp_path / "c.h5")
    _set_attr(path, "extra_attr", 1, resign=False)  # any change breaks the checksum
    with pytest.raises(DamagedFileError, match=r"c\.h5: checksum mismatch"):
        load_branch(path)


def test_seed_of_2_64_is_refused_before_any_work() -> None:
    from bifsnn.network.params import ParameterError
    from bifsnn.network.snn import simulate_snn
    from bifsnn.sweeps import SweepSpec, SweepSpecError

    with pytest.raises(ParameterError, match=r"seed = 18446744073709551616 .* < 2\*\*64"):
        simulate_snn(NetworkParams(), t_ms=1e9, seed=2**64)
    with pytest.raises(SweepSpecError, match=r"0 <= seed < 2\*\*64"):
        SweepSpec(grid={"p_EI": [0.5]}, seeds=[2**64])


# ----------------------------------------------------------------------------- command line

TINY = ["--set", "N_E=30", "--set", "N_I=10", "--t-ms", "60", "--transient-ms", "20"]


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``bifsnn ARGV``; argparse's own errors (SystemExit) count as their exit code."""
    from bifsnn.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert "error:" in last, err
    for needle in needles:
        assert needle in last, (needle, err)


@pytest.mark.parametrize("argv, needles", [
    (["simulate", "--seed", str(2**64)], ["--seed", "2**64"]),
    (["simulate", "--seed", "-1"], ["--seed"]),
    (["simulate", "--t-ms", "100", "--transient-ms", "100"], ["--transient-ms", "< --t-ms"]),
    (["simulate", "--t-ms", "0"], ["--t-ms", "> 0"]),
    (["simulate", "--t-ms", "nan"], ["--t-ms"]),
    (["simulate", "--set", "N_E=1000000000", "--no-progress"], ["memory", "N_E"]),
    (["simulate", "--set", "dt=1e-9", "--no-progress"], ["memory", "dt"]),
    (["simulate", "--t-ms", "0.01"], ["--t-ms", "shorter than one step"]),
    (["ode", "--integrator", "stiff", "--atol", "0"], ["--atol", "> 0"]),
    (["ode", "--form", "map", "--t-ms", "0"], ["--t-ms", "> 0"]),
    (["ode", "--seed", "1"], ["--seed"]),
    (["ode", "--no-progress"], ["--no-progress"]),
    (["ode", "--form", "map", "--max-steps", "5"], ["--max-steps"]),
    (["ode", "--integrator", "stiff", "--explicit-method", "dopri5"], ["--explicit-method"]),
    (["ode", "--explicit-method", "rk4"], ["--explicit-method"]),
    (["analyse", "--t-ms", "150"], ["--t-ms", "200 ms"]),
])
def test_bad_arguments_fail_at_once_with_one_line(argv: list[str], needles: list[str],
                                                  capsys: Any) -> None:
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, *needles)


def test_out_that_is_a_file_or_unwritable_is_refused_before_running(tmp_path: Path,
                                                                      capsys: Any) -> None:
    f = tmp_path / "afile"
    f.write_text("keep me\n")
    for cmd in (["simulate"], ["ode"], ["analyse"]):
        code, _, err = run_cli([*cmd, "--out", str(f)], capsys)
        assert_one_line_error(code, err, "--out", "existing file")
        code, _, err = run_cli([*cmd, "--out", str(f / "sub")], capsys)
        assert_one_line_error(code, err, "--out", "is a file")
    code, _, err = run_cli(["simulate", "--out", "/proc/bifsnn-test-out"], capsys)
    assert_one_line_error(code, err, "--out", "cannot write")
    assert f.read_text() == "keep me\n"


def test_out_without_free_space_is_refused(tmp_path: Path, capsys: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**6, 10**6 - 1000, 1000))
    code, _, err = run_cli(["simulate", "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, "--out", "free")
    assert not (tmp_path / "run").exists()


def test_existing_run_is_refused_and_overwrite_clears_only_its_files(tmp_path: Path,
                                                                      capsys: Any) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(["simulate", *TINY, "--raster", "--out", str(out), "--no-progress"],
                           capsys)
    assert code == 0, err
    assert (out / "raster.png").exists()
    (out / "notes.txt").write_text("mine\n")
    first = load_result(out / "result.h5")
    code, _, err = run_cli(["simulate", *TINY, "--seed", "5", "--out", str(out)], capsys)
    assert_one_line_error(code, err, "--out", "already holds a run", "--overwrite")
    assert same(load_result(out / "result.h5"), first)  # untouched
    code, _, err = run_cli(["simulate", *TINY, "--seed", "5", "--out", str(out), "--overwrite",
                            "--no-progress", "--no-plots"], capsys)
    assert code == 0, err
    assert load_result(out / "result.h5").seed == 5
    assert not (out / "raster.png").exists()  # the old run's plot is gone
    assert (out / "notes.txt").read_text() == "mine\n"  # other files are kept


def test_ode_cut_by_max_steps_says_so(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run_cli(["ode", "--set", "N_E=30", "--set", "N_I=10", "--t-ms", "200",
                            "--transient-ms", "0", "--max-steps", "300"], capsys)
    assert code == 1
    assert "stopped early: max_steps reached at t =" in err


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    (b"\x00\x01\x02\xff\xfe binary", "not a text file"),
    (b"p_EI = = 0.5\n", "not valid TOML"),
    (b"", "no parameters"),
    (b"# only a comment\n", "no parameters"),
    (b"[netwrok]\np_EI = 0.5\n", "unknown table"),
    (b"p_EX = 0.5\n", "unknown parameter name"),
    (b"p_EI = 1.5\n", "p_EI = 1.5 is out of range"),
])
def test_bad_params_files_name_the_file(tmp_path: Path, capsys: Any, content: bytes | None,
                                        needle: str) -> None:
    path = tmp_path / "my.toml"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(["simulate", "--params", str(path)], capsys)
    assert_one_line_error(code, err, str(path), needle)


def test_params_command_lists_every_parameter(capsys: Any) -> None:
    code, out, _ = run_cli(["params"], capsys)
    assert code == 0
    lines = out.splitlines()
    for d in NetworkParams.describe():
        (line,) = [ln for ln in lines if ln.split()[0] == d["name"]]
        assert d["meaning"] in line and d["range"] in line
        assert d["meaning"] and (d["unit"] or d["name"].startswith(("N_", "p_")))
    code, out, _ = run_cli(["params", "--toml"], capsys)
    assert NetworkParams.from_toml(out) == NetworkParams()


@pytest.mark.parametrize("command", ["simulate", "ode", "sweep", "sweep-map", "params"])
def test_every_option_has_a_sentence_and_defaults_are_shown(command: str) -> None:
    import argparse

    from bifsnn.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.choices[command]
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, (command, action.option_strings)
    text = p.format_help()
    if command in ("simulate", "ode"):
        assert "(default: 1000.0)" in text and "--overwrite" in text


# ----------------------------------------------------------------------------- sweep store race

_RACE_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {fake_dir!r})
import sweep_fake_runners as fake
from bifsnn.sweeps import SweepSpec, SweepStoreError, run_sweep

base, me, rounds = Path({base!r}), sys.argv[1], int(sys.argv[2])
spec = SweepSpec(grid={{"p_EI": [0.5, 0.6, 0.7]}}, seeds=[0, 1], t_ms=300.0,
                 observables=["rates"])
for k in range(rounds):
    (base / f"ready-{{k}}-{{me}}").touch()
    while not (base / f"go-{{k}}").exists():
        time.sleep(0.0005)
    try:
        res = run_sweep(spec, base / f"store{{k}}", backend="serial",
                        runners={{"snn": fake.fake_point}}, progress=False)
        outcome = {{"round": k, "ran": res.n_run}}
    except SweepStoreError as exc:
        outcome = {{"round": k, "lost": str(exc)}}
    print(json.dumps(outcome), flush=True)
"""


def test_simultaneous_sweeps_on_one_store_exactly_one_runs(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys
    import time

    rounds = 6
    fake_dir = str(Path(__file__).resolve().parent / "sweeps")
    script = _RACE_SCRIPT.format(fake_dir=fake_dir, base=str(tmp_path))
    env = {**os.environ, "BIFSNN_FAKE_DELAY_S": "0.05",
           "BIFSNN_FAKE_LOG": str(tmp_path / "computed.log")}
    procs = [subprocess.Popen([sys.executable, "-c", script, name, str(rounds)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    try:
        for k in range(rounds):
            deadline = time.monotonic() + 120
            while not all((tmp_path / f"ready-{k}-{n}").exists() for n in "ab"):
                assert time.monotonic() < deadline, "race processes did not start"
                assert all(p.poll() is None for p in procs), procs[0].stderr.read()
                time.sleep(0.002)
            (tmp_path / f"go-{k}").touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    results: dict[int, list[dict[str, Any]]] = {}
    for out, err in outputs:
        lines = out.splitlines()
        assert len(lines) == rounds, err
        for line in lines:
            rec = json.loads(line)
            results.setdefault(rec["round"], []).append(rec)
    for k, recs in results.items():
        winners = [r for r in recs if "ran" in r]
        losers = [r for r in recs if "lost" in r]
        assert len(winners) == 1 and len(losers) == 1, (k, recs)
        assert winners[0]["ran"] == 6
        assert "is in use by another sweep" in losers[0]["lost"], losers[0]
        store = tmp_path / f"store{k}"
        assert len(list((store / "points").glob("p*.json"))) == 6
        assert len(json.loads((store / "manifest.json").read_text())["runs"]) == 1
    computed = (tmp_path / "computed.log").read_text().splitlines()
    assert len(computed) == 6 * rounds  # no point was computed twice


# ----------------------------------------------------------------------------- sweep CLI

SPEC = """
name = "faults"
t_ms = 300.0
seeds = [0, 1]
observables = ["rates", "regime"]
[grid]
p_EI = [0.5, 0.6, 0.7]
"""


@pytest.fixture
def fake_runners(monkeypatch: pytest.MonkeyPatch) -> str:

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "sweeps"))
    return "snn=sweep_fake_runners:fake_point"


def _spec_file(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_duplicate_grid_values_are_removed_with_a_warning(tmp_path: Path, capsys: Any,
                                                          fake_runners: str) -> None:
    from bifsnn.sweeps import SweepSpec, SweepSpecWarning

    with pytest.warns(SweepSpecWarning, match="duplicate values removed"):
        spec = SweepSpec(grid={"p_EI": [1, 1.0, 0.5, 0.50]})
    assert spec.grid == {"p_EI": [1, 0.5]} and spec.n_points == 2
    path = _spec_file(tmp_path, SPEC.replace("[0.5, 0.6, 0.7]", "[0.5, 0.5, 0.6]"))
    code, out, err = run_cli(["sweep", str(path), "--dry-run", "--runner", fake_runners],
                             capsys)
    assert code == 0 and '"n_points": 4' in out
    assert "warning: grid.p_EI: duplicate values removed" in err


def test_base_value_overridden_by_the_grid_is_an_error(tmp_path: Path, capsys: Any) -> None:
    path = _spec_file(tmp_path, SPEC + "[base]\np_EI = 0.3\n")
    code, _, err = run_cli(["sweep", str(path), "--dry-run"], capsys)
    assert_one_line_error(code, err, "base.p_EI = 0.3 is overridden by grid.p_EI")


def test_dry_run_checks_runner_options_and_plot_axes(tmp_path: Path, capsys: Any) -> None:
    path = _spec_file(tmp_path, SPEC + "[options.snn]\nconectivity = 'quenched'\n")
    code, _, err = run_cli(["sweep", str(path), "--dry-run"], capsys)
    assert_one_line_error(code, err, "unknown option(s) ['conectivity']")
    path = _spec_file(tmp_path)
    code, _, err = run_cli(["sweep", str(path), "--plot", "p_EI", "tau_EE",
                            "--out", str(tmp_path / "s")], capsys)
    assert_one_line_error(code, err, "--plot", "'tau_EE' is not a dimension")
    assert not (tmp_path / "s").exists()  # refused before the sweep


@pytest.mark.parametrize("extra, needles", [
    (["--workers", "0"], ["--workers", ">= 1"]),
    (["--max-points", "-1"], ["--max-points", ">= 0"]),
    (["--out", "FILE"], ["--out", "existing file"]),
    (["--out", "/proc/bifsnn-sweep-test"], ["--out", "cannot write"]),
])
def test_sweep_bad_options_are_one_line_errors(tmp_path: Path, capsys: Any, extra: list[str],
                                               needles: list[str]) -> None:
    (tmp_path / "FILE").write_text("x")
    extra = [str(tmp_path / "FILE") if e == "FILE" else e for e in extra]
    code, _, err = run_cli(["sweep", str(_spec_file(tmp_path)), *extra], capsys)
    assert_one_line_error(code, err, *needles)


def test_failed_points_reasons_are_printed_and_seed_maps_work(tmp_path: Path, capsys: Any,
                                                               fake_runners: str) -> None:
    path, out = _spec_file(tmp_path), tmp_path / "store"
    code, _, err = run_cli(["sweep", str(path), "--out", str(out), "--backend", "serial",
                            "--no-progress", "--runner",
                            "snn=sweep_fake_runners:failing_point"], capsys)
    assert code == 1
    assert "2 failed point(s)" in err
    assert "(p_EI=0.7, seed=0): RuntimeError: deliberate failure at p_EI=0.7" in err
    pytest.importorskip("xarray")
    code, _, err = run_cli(["sweep-map", str(out), "--x", "p_EI", "--y", "seed",
                            "--var", "rate_e_hz", "--out", str(tmp_path / "m")], capsys)
    assert code == 0, err
    assert (tmp_path / "m.png").exists()


def test_huge_dry_run_does_not_build_the_grid(tmp_path: Path, capsys: Any) -> None:
    import tracemalloc

    axes = "\n".join(f"{n} = {{ start = {a}, stop = {b}, num = 100 }}" for n, a, b in
                     (("p_EI", 0.1, 1.0), ("tau_EE", 1.0, 3.0), ("lambda_ext", 5, 9),
                      ("S_EE", 0.5, 1.5)))
    path = _spec_file(tmp_path, f"t_ms = 300.0\n[grid]\n{axes}\n")
    tracemalloc.start()
    try:
        code, out, err = run_cli(["sweep", str(path), "--dry-run"], capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0, err
    assert '"n_points": 100000000' in out
    assert peak < 20 * 2**20  # 10**8 points would need gigabytes
    bad = _spec_file(tmp_path, f"t_ms = 300.0\n[grid]\n{axes}\nV_reset = [0, 150]\n")
    code, _, err = run_cli(["sweep", str(bad), "--dry-run"], capsys)
    assert_one_line_error(code, err, "V_reset = 150 is out of range")


def test_disk_full_while_writing_is_one_line_and_leaves_no_partial_file(
        tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import h5py

    real_file = h5py.File

    def full_disk(path: Any, mode: str = "r", **kw: Any) -> Any:
        if mode == "w":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_file(path, mode, **kw)

    monkeypatch.setattr(h5py, "File", full_disk)
    out = tmp_path / "run"
    code, _, err = run_cli(["simulate", *TINY, "--out", str(out), "--no-progress"], capsys)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("bifsnn simulate: error: [Errno 28] No space")
    assert not list(out.glob("*.h5")) and not list(out.glob(".*.tmp"))
