"""``bifsnn ode --form ode --finite-size-noise --seed S``."""

import json

from bifsnn import load_result
from bifsnn.cli import main


def test_ode_finite_size_noise_is_seeded(tmp_path, capsys):
    args = ["ode", "--form", "ode", "--finite-size-noise", "--t-ms", "60", "--json",
            "--sde-dt-ms", "0.02", "--transient-ms", "10"]
    assert main(args + ["--seed", "5", "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(args + ["--seed", "5"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert main(args + ["--seed", "6"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert a["rate_e_hz"] == b["rate_e_hz"] != c["rate_e_hz"]
    r = load_result(tmp_path / "a" / "result.h5")
    assert r.model == "sde" and r.seed == 5 and r.options["sde_dt_ms"] == 0.02


def test_finite_size_noise_needs_the_ode_form(capsys):
    assert main(["ode", "--form", "map", "--finite-size-noise", "--t-ms", "10"]) == 2
    assert "--form ode" in capsys.readouterr().err


def test_finite_size_noise_with_the_coloured_closure_only(capsys):
    args = ["ode", "--form", "ode", "--finite-size-noise", "--t-ms", "5", "--json",
            "--transient-ms", "1", "--no-plots"]
    assert main(args + ["--closure", "coloured"]) == 0
    assert json.loads(capsys.readouterr().out)["rate_e_hz"] >= 0
    assert main(args + ["--closure", "conditional"]) == 2
    assert "--closure" in capsys.readouterr().err
