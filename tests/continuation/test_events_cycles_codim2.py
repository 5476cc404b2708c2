"""User events, record functions and progress on cycle and codim-2 branches."""

import numpy as np
import pytest
from test_equilibria import hopf_normal_form

from bifsnn.continuation import (
    Collocation,
    ContinuationOptions,
    ODEProblem,
    continue_cycles,
    continue_equilibria,
    continue_hopf,
    load_branch,
    save_branch,
)


def _hopf_branch():
    return continue_equilibria(hopf_normal_form(-1.0),
                               ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))


def _max_radius(cycle, p):
    return float(np.max(np.hypot(cycle.U[:, 0], cycle.U[:, 1])))


def test_cycle_branch_records_and_stops_at_amplitude(tmp_path):
    # x' = mu x - y - x r^2, y' = x + mu y - y r^2: cycles r = sqrt(mu), period 2 pi
    br = _hopf_branch()
    seen = []
    opts = ContinuationOptions(ds=0.02, ds_max=0.05, p_max=1.0, max_steps=200,
                               record={"r_max": _max_radius},
                               events={"r_max": 0.5, "param": 0.09}, stop_at_events=False,
                               progress=seen.append)
    po = continue_cycles(br, br.points("H")[0], opts, Collocation(ntst=20, ncol=4))
    assert po.success
    # recorded: the radius of every row is sqrt(mu) (collocation error ~1e-8)
    assert np.max(np.abs(po.extra["r_max"] - np.sqrt(po.param_values))) < 1e-6
    uz = {s.data["event"]: s for s in po.points("UZ")}
    assert set(uz) == {"r_max", "param"} and all(s.located for s in uz.values())
    assert abs(uz["r_max"].param - 0.25) < 1e-8          # r = 0.5 at mu = 0.25
    assert abs(uz["param"].param - 0.09) < 1e-10
    assert abs(po.extra["r_max"][uz["param"].index] - 0.3) < 1e-6
    # progress: one dict per step, in order
    assert seen and [d["step"] for d in seen] == list(range(1, len(seen) + 1))
    assert seen[0]["kind"] == "PO" and {"param", "period", "ds", "points"} <= set(seen[0])
    back = load_branch(save_branch(po, tmp_path / "po.h5"))
    assert [s.type for s in back.points("UZ")] == ["UZ", "UZ"]
    np.testing.assert_array_equal(back.extra["r_max"], po.extra["r_max"])


def test_cycle_branch_stops_at_a_period():
    # x' = mu x - w y - x r^2, y' = w x + mu y - y r^2 with w = 1 + r^2: the period
    # 2 pi / (1 + mu) falls along the branch; stop where it equals 2 pi / 1.2 (mu = 0.2)
    def f(z, p):
        r2 = z[0] ** 2 + z[1] ** 2
        w = 1.0 + r2
        return np.array([p[0] * z[0] - w * z[1] - z[0] * r2, w * z[0] + p[0] * z[1] - z[1] * r2])

    br = continue_equilibria(ODEProblem(f, [0.0, 0.0], [-0.5]),
                             ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5))
    target = 2 * np.pi / 1.2
    opts = ContinuationOptions(ds=0.02, ds_max=0.05, p_max=1.0, max_steps=200,
                               events={"period": target}, stop_at_events=True)
    po = continue_cycles(br, br.points("H")[0], opts, Collocation(ntst=20, ncol=4))
    assert po.status == "stopped" and "period" in po.message
    (uz,) = po.points("UZ")
    assert abs(uz.data["period"] - target) < 1e-8 and abs(uz.param - 0.2) < 1e-7
    assert po.param_values.max() < 0.2 + 0.06       # stopped within one step of the event


def test_progress_function_can_end_a_cycle_run():
    """A progress function that raises StopIteration ends the run after that step: status
    'stopped', success, the points so far kept; every step reports the cycle's stability."""
    br = _hopf_branch()
    seen = []

    def stop_after_four(info):
        seen.append(info)
        if info["step"] == 4:
            raise StopIteration

    opts = ContinuationOptions(ds=0.02, ds_max=0.05, p_max=1.0, max_steps=200,
                               progress=stop_after_four)
    po = continue_cycles(br, br.points("H")[0], opts, Collocation(ntst=20, ncol=4))
    assert po.success and po.status == "stopped" and "progress function" in po.message
    assert [d["step"] for d in seen] == [1, 2, 3, 4]
    assert all(d["stable"] is True for d in seen)  # supercritical: stable cycles
    assert po.param_values[-1] == pytest.approx(seen[-1]["param"])


def test_builtin_events_are_checked_per_branch_kind():
    with pytest.raises(ValueError, match="events\\['period'\\] is out of range: a EP branch"):
        continue_equilibria(hopf_normal_form(-1.0),
                            ContinuationOptions(events={"period": 6.0}))
    with pytest.raises(ValueError, match="events\\['x'\\] is out of range"):
        ContinuationOptions(events={"x": 1.0})
    with pytest.raises(ValueError, match="progress"):
        ContinuationOptions(progress="yes")


def test_hopf_curve_events_record_and_progress(capsys):
    # Bautin normal form: Hopf curve b1 = 0 in (b1, b2); record omega * 2; stop at b2 = 0.3
    def f(z, p):
        r2 = z[0] ** 2 + z[1] ** 2
        return np.array([p[0] * z[0] - z[1] + p[1] * z[0] * r2 - z[0] * r2**2,
                         z[0] + p[0] * z[1] + p[1] * z[1] * r2 - z[1] * r2**2])

    pr = ODEProblem(f, [0.0, 0.0], [-0.2, -0.5], param_names=("b1", "b2"))
    br = continue_equilibria(pr, ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-0.5,
                                                     p_max=0.5))
    opts = ContinuationOptions(ds=0.05, ds_max=0.1, p_min=-0.5, p_max=0.5,
                               bounds={"b2": (-1.0, 1.0)},
                               record={"x_norm": lambda x, p: float(np.linalg.norm(x)) + p[1]},
                               events={"param2": 0.3}, stop_at_events=True, progress=True)
    hc = continue_hopf(br, br.points("H")[0], "b2", opts)
    err = capsys.readouterr().err
    assert "H step 1:" in err and "params = (" in err
    assert hc.status == "stopped" and "param2" in hc.message
    (uz,) = hc.points("UZ")
    assert uz.located and abs(uz.params[1] - 0.3) < 1e-9 and abs(uz.params[0]) < 1e-9
    np.testing.assert_allclose(hc.extra["x_norm"], hc.p[:, 1], atol=1e-9)
    # quiet by default: nothing printed
    continue_hopf(br, br.points("H")[0], "b2", opts.with_(progress=False, max_steps=3))
    assert capsys.readouterr().err == ""


def test_options_with_functions_survive_save(tmp_path):
    br = _hopf_branch()
    opts = ContinuationOptions(ds=0.05, ds_max=0.1, p_max=0.5, progress=lambda info: None,
                               record={"x0": lambda x, p: float(x[0])},
                               events={"x0": 0.1, "param": 0.2})
    br2 = continue_equilibria(hopf_normal_form(-1.0), opts)
    back = load_branch(save_branch(br2, tmp_path / "ep.h5"))
    assert back.options is not None and back.options.progress is False
    assert back.options.record == {} and back.options.events == {"param": (0.2,)}
    assert br.options is not None
