"""Diagrams (PNG + PDF) and HDF5 save/load of branches."""

from types import SimpleNamespace

import numpy as np
import pytest

from bifsnn._figures import save_figure
from bifsnn.continuation import ContinuationOptions, ODEProblem, continue_equilibria, continue_hopf
from bifsnn.continuation.io import load_branch, save_branch
from bifsnn.continuation.plots import bifurcation_diagram, two_parameter_diagram


def brusselator():
    def f(x, p):
        return np.array([p[0] - (p[1] + 1) * x[0] + x[0] ** 2 * x[1],
                         p[1] * x[0] - x[0] ** 2 * x[1]])
    pr = ODEProblem(f, [1.0, 0.5], [1.0, 0.5], param="b", param_names=("a", "b"),
                    x_names=("x", "y"))
    return continue_equilibria(pr, ContinuationOptions(ds=0.1, ds_max=0.5, p_max=4))


def test_save_load_roundtrip(tmp_path):
    br = brusselator()
    path = save_branch(br, tmp_path / "b.h5")
    back = load_branch(path)
    assert back.kind == br.kind and back.success == br.success and back.message == br.message
    np.testing.assert_array_equal(back.x, br.x)
    np.testing.assert_array_equal(back.p, br.p)
    np.testing.assert_array_equal(back.eigenvalues, br.eigenvalues)
    np.testing.assert_array_equal(back.n_unstable, br.n_unstable)
    assert back.param_names == ("a", "b") and back.x_names == ("x", "y")
    assert [s.type for s in back.special_points] == [s.type for s in br.special_points]
    h0, h1 = br.points("H")[0], back.points("H")[0]
    assert h1.index == h0.index and h1.located
    for key in ("omega", "l1", "dre_dp", "criticality"):
        assert h1.data[key] == h0.data[key]
    np.testing.assert_array_equal(h1.data["q"], h0.data["q"])
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary


def test_two_parameter_branch_roundtrip(tmp_path):
    br = brusselator()
    hc = continue_hopf(br, br.points("H")[0], "a", ContinuationOptions(ds=0.1, ds_max=0.2,
                                                       bounds={"a": (0.5, 2.0)}))
    hc.info["from_gh"] = (0.5, 1.25)  # tuples / lists / dicts come back as lists / dicts
    hc.info["switch_failures"] = ["row 3: no fold"]
    hc.info["ntst"] = 20
    back = load_branch(save_branch(hc, tmp_path / "h.h5"))
    assert back.param_indices == (1, 0)
    np.testing.assert_array_equal(back.extra["omega"], hc.extra["omega"])
    assert back.info["from_gh"] == [0.5, 1.25] and back.info["ntst"] == 20
    assert back.info["switch_failures"] == ["row 3: no fold"]


def test_diagrams_written_as_png_and_pdf(tmp_path):
    br = brusselator()
    hd = br.points("H")[0]
    b = np.linspace(hd.param, 3.0, 15)
    amp = np.sqrt(b - hd.param)
    cyc = SimpleNamespace(param_values=b, x_min=hd.x - amp[:, None], x_max=hd.x + amp[:, None],
                          period=2 * np.pi / hd.data["omega"] + 0.1 * amp,
                          stable=np.ones(15, bool), name="cycles",
                          special_points=[SimpleNamespace(type="PD", index=7)])
    fig = bifurcation_diagram(br, cycles=[cyc], component="x")
    assert len(fig.axes) == 2  # period panel
    paths = save_figure(fig, tmp_path / "one")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    hc = continue_hopf(br, br.points("H")[0], "a", ContinuationOptions(ds=0.1, ds_max=0.2,
                                                       bounds={"a": (0.5, 2.0)}))
    fig2 = two_parameter_diagram([hc])
    assert fig2.axes[0].get_xlabel() == "b" and fig2.axes[0].get_ylabel() == "a"
    paths = save_figure(fig2, tmp_path / "two")
    assert all(p.stat().st_size > 1000 for p in paths)
    # unstable part dashed, stable solid
    styles = {ln.get_linestyle() for ln in bifurcation_diagram(br).axes[0].lines}
    assert {"-", "--"} <= styles


def _assert_same(a, b):
    assert a.kind == b.kind and len(a) == len(b)
    assert a.message == b.message and a.success == b.success and a.status == b.status
    assert a.nit == b.nit and a.param_indices == b.param_indices
    assert a.param_names == b.param_names and a.x_names == b.x_names
    for key in ("x", "p", "eigenvalues", "n_unstable"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert sorted(a.extra) == sorted(b.extra)
    for key in a.extra:
        np.testing.assert_array_equal(a.extra[key], b.extra[key])
    assert [(s.type, s.index, s.located) for s in a.special_points] == \
        [(s.type, s.index, s.located) for s in b.special_points]
    assert a.options == b.options and a.collocation == b.collocation


def _bautin_cycles():
    from bifsnn.continuation.periodic import Collocation, continue_cycles_from_orbit
    from bifsnn.continuation.periodic.examples import bautin_2p

    s = bautin_2p(0.0, 1.0)
    q = np.array([1.0, -1j]) / np.sqrt(2)
    from bifsnn.continuation.periodic import cycle_from_hopf

    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, q, ntst=12)
    br = continue_cycles_from_orbit(s, start, ContinuationOptions(
        ds=0.05, ds_max=1.0, max_steps=40, newton_max_iter=8, p_min=-0.5, p_max=0.5),
        Collocation(ntst=12))
    return s, br


def test_cycle_branch_roundtrip_and_continuation(tmp_path):
    """A PO branch saves and loads with every array bit-identical; loaded with its problem
    it continues (from its LPC, in two parameters) exactly as the original does."""
    from bifsnn.continuation.periodic import continue_lpc

    s, br = _bautin_cycles()
    assert br.points("LPC")
    path = save_branch(br, tmp_path / "cyc.h5")
    bare = load_branch(path)
    _assert_same(br, bare)
    assert bare.problem is None
    np.testing.assert_array_equal(bare.cycle(3).U, br.cycle(3).U)
    with pytest.raises(ValueError, match="problem"):
        continue_lpc(bare, bare.points("LPC")[0], 1)
    back = load_branch(path, problem=s)
    o = ContinuationOptions(ds=0.05, max_steps=3)
    c1 = continue_lpc(br, br.points("LPC")[0], 1, o)
    c2 = continue_lpc(back, back.points("LPC")[0], 1, o)
    np.testing.assert_array_equal(c1.p, c2.p)
    # the LPC curve itself round-trips and keeps its kind and both parameter indices
    c3 = load_branch(save_branch(c1, tmp_path / "lpc.h5"), problem=s)
    _assert_same(c1, c3)
    assert c3.kind == "LPC" and c3.param_indices == (0, 1)


def test_equilibrium_branch_loaded_with_problem_continues(tmp_path):
    br = brusselator()
    back = load_branch(save_branch(br, tmp_path / "b.h5"), problem=br.problem)
    _assert_same(br, back)
    o = ContinuationOptions(ds=0.1, ds_max=0.2, max_steps=5, bounds={"a": (0.5, 2.0)})
    h1 = continue_hopf(br, br.points("H")[0], "a", o)
    h2 = continue_hopf(back, back.points("H")[0], "a", o)
    np.testing.assert_array_equal(h1.p, h2.p)
    # a two-parameter curve loaded with its problem: its end point starts the same curve
    hl = load_branch(save_branch(h1, tmp_path / "h.h5"), problem=br.problem)
    _assert_same(h1, hl)
    with pytest.raises(ValueError, match="states"):
        load_branch(tmp_path / "b.h5", problem=ODEProblem(lambda x, p: x, [0.0], [1.0, 2.0]))


def test_load_rejects_unknown_format_version(tmp_path):
    import h5py

    path = save_branch(brusselator(), tmp_path / "b.h5")
    from bifsnn._h5files import sign_file

    with h5py.File(path, "r+") as h5:
        h5.attrs["format_version"] = 99
    with pytest.raises(ValueError, match="checksum mismatch"):  # an edit is damage
        load_branch(path)
    sign_file(path)  # as if a newer bifsnn had written it
    with pytest.raises(ValueError, match="format_version = 99 is newer"):
        load_branch(path)


def test_dataframe_and_xarray_on_every_kind():
    br = brusselator()
    df = br.to_dataframe()
    assert list(df.columns[:3]) == ["b", "x", "y"] and len(df) == len(br)
    assert set(df["special"]) >= {"H", "EP"}
    ds = br.to_xarray()
    assert ds["x"].shape == (len(br), 2) and ds.attrs["kind"] == "EP"
    _, po = _bautin_cycles()
    df = po.to_dataframe()
    assert {"period", "amplitude", "x_min_x0", "x_max_x1", "stable"} <= set(df.columns)
    assert (df["special"] == "LPC").sum() == 1
    ds = po.to_xarray()
    assert ds["nodes"].dims == ("point", "node", "state") and "period" in ds
    hc = continue_hopf(br, br.points("H")[0], "a", ContinuationOptions(
        ds=0.1, ds_max=0.2, max_steps=4, bounds={"a": (0.5, 2.0)}))
    assert list(hc.to_dataframe().columns[:2]) == ["b", "a"]
    assert "omega" in hc.to_xarray()


def test_plot_branch_takes_ax_as_keyword():
    from bifsnn._figures import subplots
    from bifsnn.continuation.plots import plot_branch

    br = brusselator()
    fig, ax = subplots()
    out = plot_branch(br, ax=ax, component="y")
    assert out is ax and len(ax.lines) >= 1
    np.testing.assert_allclose(ax.lines[0].get_xdata()[:3], br.param_values[:3])
    np.testing.assert_allclose(ax.lines[0].get_ydata()[:3], br.x[:3, 1])
    assert plot_branch(ax, br) is ax  # the older positional order still works
    own = plot_branch(br)  # no ax: a new detached figure
    assert own is not ax and own.figure is not fig and len(own.lines) >= 1
    with pytest.raises(TypeError, match="branch first"):
        plot_branch(br, br)
    with pytest.raises(TypeError, match="not a branch"):
        plot_branch(ax)
