"""Parameter sweeps at scale: spec -> points -> backend (serial / process pool / Dask) ->
resumable per-point store -> ``xarray.Dataset`` -> regime maps.

Typical use::

    from bifsnn.sweeps import SweepSpec, run_sweep
    spec = SweepSpec(grid={"p_EI": [0.5, 0.6], "tau_EE": [1.2, 1.4]}, t_ms=600, seeds=[0, 1])
    res = run_sweep(spec, "out/pei_tauee")          # process pool over every core
    ds = res.dataset()                               # dims (p_EI, tau_EE, seed)

or ``bifsnn sweep spec.toml --out DIR`` on the command line.  xarray and dask are the
optional ``sweep`` extra; they are imported only when needed.
"""

from bifsnn.sweeps.backends import (
    DaskBackend,
    PoolBackend,
    SerialBackend,
    make_backend,
)
from bifsnn.sweeps.classify import (
    REGIMES,
    RegimeThresholds,
    classify_regime,
    delta_m_histogram,
    delta_m_stats,
)
from bifsnn.sweeps.engine import SweepRunResult, run_sweep
from bifsnn.sweeps.runners import DEFAULT_RUNNERS, execute_point, runner_table
from bifsnn.sweeps.spec import (
    MODEL_KINDS,
    OBSERVABLE_GROUPS,
    SweepPoint,
    SweepSpec,
    SweepSpecError,
    SweepSpecWarning,
    load_spec,
)
from bifsnn.sweeps.store import SweepStore, SweepStoreError, load_sweep

__all__ = [
    "DEFAULT_RUNNERS",
    "MODEL_KINDS",
    "OBSERVABLE_GROUPS",
    "REGIMES",
    "DaskBackend",
    "PoolBackend",
    "RegimeThresholds",
    "SerialBackend",
    "SweepPoint",
    "SweepRunResult",
    "SweepSpec",
    "SweepSpecError",
    "SweepSpecWarning",
    "SweepStore",
    "SweepStoreError",
    "classify_regime",
    "delta_m_diagram",
    "delta_m_histogram",
    "delta_m_stats",
    "execute_point",
    "load_spec",
    "load_sweep",
    "make_backend",
    "plot_delta_m_diagram",
    "plot_regime_map",
    "run_sweep",
    "runner_table",
]


_PLOT_NAMES = ("plot_regime_map", "plot_delta_m_diagram", "delta_m_diagram")


def __getattr__(name: str):  # matplotlib only when plotting
    if name in _PLOT_NAMES:
        from bifsnn.sweeps import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'bifsnn.sweeps' has no attribute {name!r}")
