"""The ``bifsnn simulate`` command line."""

import json

import pytest

from bifsnn import load_result
from bifsnn.cli import main

REQUIRED_KEYS = {"rate_e_hz", "rate_i_hz", "ssi_e", "ssi_i", "spectral_peak_hz",
                 "peak_heights", "peak_intervals_ms"}


def test_simulate_json_summary(capsys):
    assert main(["simulate", "--t-ms", "400", "--seed", "3", "--json", "--no-progress"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert REQUIRED_KEYS <= set(info)
    assert 20 < info["rate_e_hz"] < 100 and len(info["peak_heights"]) >= 5


def test_simulate_writes_reloadable_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["simulate", "--model", "markov", "--t-ms", "300", "--set", "p_EI=0.5",
                 "--out", str(out), "--raster", "--no-progress"])
    assert code == 0
    r = load_result(out / "result.h5")
    assert r.model == "markov" and r.params.p_EI == 0.5 and r.seed == 0
    assert r.raster_neuron is not None
    assert json.loads((out / "summary.json").read_text())["rate_e_hz"] > 0
    assert (out / "params.toml").read_text().count("p_EI = 0.5") == 1
    assert sorted(p.suffix for p in out.glob("raster*")) == [".pdf", ".png"]


def test_params_file_and_override(tmp_path, capsys):
    f = tmp_path / "p.toml"
    f.write_text("N_E = 150\nN_I = 50\nS_EE = 1.9\nS_IE = 2.5\nS_EI = 5.42\nS_II = 4.9\n")
    assert main(["simulate", "--params", str(f), "--t-ms", "200", "--json", "--set",
                 "lambda_ext=6", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["rate_e_hz"] > 0


@pytest.mark.parametrize("arg", ["p_EI=1.5", "nonsense=1", "p_EI"])
def test_bad_parameters_give_clear_error(arg, capsys):
    assert main(["simulate", "--t-ms", "10", "--set", arg, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bifsnn simulate: error:" in err and ("p_EI" in err or "nonsense" in err)


def test_simulate_parallel_threads_option(capsys):
    """--threads K runs the multi-threaded kernel on K threads: the same output as --parallel
    on numba's default thread count (the output depends on the seed only)."""
    args = ["simulate", "--t-ms", "200", "--seed", "5", "--json", "--no-progress"]
    assert main(args + ["--threads", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(args + ["--parallel"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert one["rate_e_hz"] == default["rate_e_hz"] > 0
    assert one["rate_i_hz"] == default["rate_i_hz"] > 0


@pytest.mark.parametrize("extra, name", [(["--threads", "0"], "--threads"),
                                         (["--threads", "100000"], "--threads"),
                                         (["--threads", "two"], "--threads"),
                                         (["--model", "markov", "--parallel"], "--parallel"),
                                         (["--model", "markov", "--threads", "1"], "--threads")])
def test_simulate_bad_parallel_options_give_one_line_error(extra, name, capsys):
    """Rejected before any work, with one error line naming the option (argparse's own
    type errors print the usage above it)."""
    try:
        code = main(["simulate", "--t-ms", "10", "--no-progress"] + extra)
    except SystemExit as exc:  # argparse type error
        code = exc.code
    assert code == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and f"argument {name}:" in errors[0]
