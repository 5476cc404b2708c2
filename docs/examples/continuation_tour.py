"""A tour of bifsnn.continuation on the Roessler system, with one calling convention.

    x' = -y - z,   y' = x + a y,   z' = b + z (x - c),      b = 2, c = 4, a continued.

equilibria in a -> the Hopf point of the inner equilibrium (a ~ 0.125) -> the cycles born
there -> their first period doubling (a ~ 0.3349) -> the period-doubled cycles and their
period doubling (a ~ 0.3748) -> the Hopf curve in (a, b).  Every start from a special point
is ``f(branch, point, [param2], options) -> Branch``; every result is a ``Branch``.

Run: ``python docs/examples/continuation_tour.py [--out DIR]`` (about 10 s; with ``--out`` a
one- and a two-parameter diagram are written as PNG + PDF, and the branches as HDF5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bifsnn.continuation import (
    Collocation,
    ContinuationOptions,
    ODEProblem,
    continue_cycles,
    continue_equilibria,
    continue_hopf,
    save_branch,
)


def roessler(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Right-hand side; p = (a, b, c)."""
    a, b, c = p
    return np.array([-x[1] - x[2], x[0] + a * x[1], b + x[2] * (x[0] - c)])


def roessler_jac(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """df/dx."""
    a, _, c = p
    return np.array([[0.0, -1.0, -1.0], [1.0, a, 0.0], [x[2], 0.0, x[0] - c]])


def problem(a: float = 0.05, b: float = 2.0, c: float = 4.0) -> ODEProblem:
    """The Roessler system at its inner equilibrium, continued in a."""
    x = (c - np.sqrt(c * c - 4 * a * b)) / 2
    return ODEProblem(roessler, [x, -x / a, x / a], [a, b, c], param="a",
                      param_names=("a", "b", "c"), x_names=("x", "y", "z"), dfdx=roessler_jac,
                      name="roessler")


def tour(out: Path | None = None, verbose: bool = True) -> dict:
    """Run the tour; returns the branches by name."""
    say = print if verbose else (lambda *_: None)
    prob = problem()
    # 1. equilibria in a (direction +1: increasing a)
    eq = continue_equilibria(prob, ContinuationOptions(ds=0.01, ds_max=0.02, p_min=0.0,
                                                       p_max=0.45))
    hopf = eq.points("H")[0]
    say(eq.summary())
    # 2. cycles from the Hopf point (they leave it on the side the normal form gives)
    cycle_opts = ContinuationOptions(ds=0.1, ds_max=0.5, max_steps=200, p_max=0.36,
                                     newton_max_iter=8)
    po = continue_cycles(eq, hopf, cycle_opts, Collocation(ntst=40, ncol=4))
    pd1 = po.points("PD")[0]
    say(po.summary())
    # 3. the period-doubled branch from the PD point (80 mesh intervals by default)
    po2 = continue_cycles(po, pd1, cycle_opts.with_(ds=0.05, ds_max=0.1, p_max=0.39))
    say(po2.summary())
    # 4. the Hopf curve in (a, b), both directions from the Hopf point, merged
    hc = continue_hopf(eq, hopf, "b", ContinuationOptions(
        ds=0.02, ds_max=0.1, max_steps=200, p_min=0.0, p_max=1.0, bounds={"b": (0.1, 4.0)},
        both_sides=True))
    say(hc.summary())
    say(hc.to_dataframe()[["a", "b", "omega"]].iloc[:: max(1, len(hc) // 6)].to_string())
    branches = {"equilibria": eq, "cycles": po, "doubled_cycles": po2, "hopf_curve": hc}
    if out is not None:
        from bifsnn.continuation.plots import (
            bifurcation_diagram,
            save_figure,
            two_parameter_diagram,
        )

        out.mkdir(parents=True, exist_ok=True)
        save_figure(bifurcation_diagram([eq, po, po2], component="x",
                                        title="Roessler, b = 2, c = 4"), out / "tour_one")
        save_figure(two_parameter_diagram([hc], title="Hopf curve"), out / "tour_two")
        for name, br in branches.items():
            save_branch(br, out / f"{name}.h5")
        say(f"figures and branches written to {out}")
    return branches


def main() -> None:
    """Command line: ``--out DIR`` writes figures and branch files."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="directory for figures and files")
    tour(ap.parse_args().out)


if __name__ == "__main__":
    main()
