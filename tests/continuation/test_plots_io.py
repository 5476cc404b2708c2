"""Diagrams (PNG + PDF) and HDF5 save/load of branches."""

from types import SimpleNamespace

import numpy as np

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
    hc = continue_hopf(br, 0, "a", ContinuationOptions(ds=0.1, ds_max=0.2,
                                                       bounds={"a": (0.5, 2.0)}))
    back = load_branch(save_branch(hc, tmp_path / "h.h5"))
    assert back.param_indices == (1, 0)
    np.testing.assert_array_equal(back.extra["omega"], hc.extra["omega"])


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
    hc = continue_hopf(br, 0, "a", ContinuationOptions(ds=0.1, ds_max=0.2,
                                                       bounds={"a": (0.5, 2.0)}))
    fig2 = two_parameter_diagram([hc])
    assert fig2.axes[0].get_xlabel() == "b" and fig2.axes[0].get_ylabel() == "a"
    paths = save_figure(fig2, tmp_path / "two")
    assert all(p.stat().st_size > 1000 for p in paths)
    # unstable part dashed, stable solid
    styles = {ln.get_linestyle() for ln in bifurcation_diagram(br).axes[0].lines}
    assert {"-", "--"} <= styles


def test_cycle_branch_roundtrip(tmp_path):
    """A cycle branch with special points saves and loads with every array bit-identical."""
    from bifsnn.continuation.io import load_branch, save_branch
    from bifsnn.continuation.periodic import continue_cycles, cycle_from_hopf
    from bifsnn.continuation.periodic.examples import bautin

    s = bautin(1.0)
    q = np.array([1.0, -1j]) / np.sqrt(2)
    start = cycle_from_hopf(s, np.zeros(2), 0.0, 1.0, q, ntst=12)
    br = continue_cycles(s, start, ds=0.05, max_steps=40, ntst=12, p_min=-0.5, p_max=0.5)
    assert any(sp.kind == "LPC" for sp in br.special_points)
    back = load_branch(save_branch(br, tmp_path / "cyc.h5"))
    assert type(back) is type(br) and len(back) == len(br)
    assert back.message == br.message and back.success == br.success
    for a, b in zip(br.points, back.points, strict=True):
        assert a.p == b.p and a.T == b.T and a.ncol == b.ncol
        np.testing.assert_array_equal(a.U, b.U)
        np.testing.assert_array_equal(a.multipliers, b.multipliers)
    assert [(sp.kind, sp.p) for sp in back.special_points] == \
        [(sp.kind, sp.p) for sp in br.special_points]
    assert back.options == br.options
