"""Result objects shared by every model kind, and the project's file format.

Every simulator (SNN, Markov model, reduced map, ODE) returns a :class:`SimulationResult`
with per-step population spike counts on the same ``dt`` grid, so every observable applies
unchanged.  Results are stored as HDF5 (self-describing: arrays plus parameters, seed, model
kind, options and package version as attributes), written atomically, with the SHA-256 of
the file in a 512-byte user block that :func:`load_result` checks (see
:mod:`bifsnn._h5files`): a damaged file is refused with a message naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn._files import atomic_path, atomic_write_text
from bifsnn._h5files import DamagedFileError, open_checked, write_checked
from bifsnn.network.params import NetworkParams

__all__ = [
    "DamagedFileError",
    "SimulationResult",
    "check_result_shapes",
    "atomic_write_text",
    "atomic_path",
    "load_result",
    "save_result",
]

FORMAT_NAME = "bifsnn-result"
#: 2: SHA-256 of the content (root attribute ``sha256``), seed as uint64 plus ``has_seed``.
FORMAT_VERSION = 2


@dataclass
class SimulationResult:
    """Output of one run of any model kind.

    ``spike_counts_e`` / ``spike_counts_i`` hold the population spike count of every step of
    length ``dt_ms`` (integers for stochastic models, expected counts for deterministic ones).
    Optional outputs: a spike raster for a subset of neurons (``raster_neuron``, global index
    with E neurons first; ``raster_step``), and voltage histograms sampled at
    ``voltage_hist_t_ms`` over ``voltage_hist_edges`` for each population.
    """

    model: str
    params: NetworkParams
    dt_ms: float
    spike_counts_e: np.ndarray
    spike_counts_i: np.ndarray
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    raster_neuron: np.ndarray | None = None
    raster_step: np.ndarray | None = None
    voltage_hist_t_ms: np.ndarray | None = None
    voltage_hist_edges: np.ndarray | None = None
    voltage_hist_e: np.ndarray | None = None
    voltage_hist_i: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            from bifsnn._version import __version__

            self.version = __version__

    @property
    def n_steps(self) -> int:
        return int(len(self.spike_counts_e))

    @property
    def t_ms(self) -> np.ndarray:
        """End time of every step, ms."""
        return (np.arange(self.n_steps) + 1) * self.dt_ms

    @property
    def duration_ms(self) -> float:
        return self.n_steps * self.dt_ms

    @property
    def rate_e(self) -> np.ndarray:
        """E population spike count rate per step, spikes/ms."""
        return np.asarray(self.spike_counts_e, dtype=float) / self.dt_ms

    @property
    def rate_i(self) -> np.ndarray:
        """I population spike count rate per step, spikes/ms."""
        return np.asarray(self.spike_counts_i, dtype=float) / self.dt_ms

    def raster_times_ms(self) -> np.ndarray:
        if self.raster_step is None:
            raise ValueError("this result has no raster; rerun with raster_neurons=...")
        return (np.asarray(self.raster_step) + 1) * self.dt_ms

    def save(self, path: str | Path) -> Path:
        return save_result(self, path)


_ARRAY_FIELDS = (
    "spike_counts_e",
    "spike_counts_i",
    "raster_neuron",
    "raster_step",
    "voltage_hist_t_ms",
    "voltage_hist_edges",
    "voltage_hist_e",
    "voltage_hist_i",
)


def save_result(result: SimulationResult, path: str | Path) -> Path:
    """Write ``result`` to an HDF5 file atomically, with a SHA-256 of its content, and return
    the path."""
    path = Path(path)
    check_result_shapes(result, path)
    with write_checked(path) as h5:
        h5.attrs["format"] = FORMAT_NAME
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["bifsnn_version"] = result.version
        h5.attrs["model"] = result.model
        h5.attrs["dt_ms"] = result.dt_ms
        # seeds are 0 <= seed < 2**64 (numpy SeedSequence accepts more, the file does not)
        h5.attrs["has_seed"] = result.seed is not None
        h5.attrs["seed"] = np.uint64(0 if result.seed is None else int(result.seed))
        h5.attrs["params_toml"] = result.params.to_toml()
        h5.attrs["options_json"] = json.dumps(result.options, default=str)
        for name in _ARRAY_FIELDS:
            value = getattr(result, name)
            if value is not None:
                h5.create_dataset(name, data=np.asarray(value), compression="gzip")
        grp = h5.create_group("extra")
        for name, value in result.extra.items():
            grp.create_dataset(name, data=np.asarray(value), compression="gzip")
    return path


def check_result_shapes(result: SimulationResult, path: str | Path | None = None) -> None:
    """Raise ValueError (naming ``path``) if the result's arrays have inconsistent shapes."""
    where = f"{path}: " if path is not None else ""

    def shape(name: str) -> tuple[int, ...] | None:
        value = getattr(result, name)
        return None if value is None else np.shape(value)

    problems = []
    e, i = shape("spike_counts_e"), shape("spike_counts_i")
    if e is None or i is None or len(e) != 1 or e != i:
        problems.append(f"spike_counts_e {e} and spike_counts_i {i} must be 1-D of one length")
    rn, rs = shape("raster_neuron"), shape("raster_step")
    if (rn is None) != (rs is None) or (rn is not None and (len(rn) != 1 or rn != rs)):
        problems.append(f"raster_neuron {rn} and raster_step {rs} must be 1-D of one length")
    ht, he = shape("voltage_hist_t_ms"), shape("voltage_hist_edges")
    for pop in ("e", "i"):
        h = shape(f"voltage_hist_{pop}")
        if h is None:
            continue
        if ht is None or he is None or len(h) != 3 or h[0] != ht[0] or h[-1] != he[0] - 1:
            problems.append(f"voltage_hist_{pop} {h} does not match voltage_hist_t_ms {ht} "
                            f"and voltage_hist_edges {he}")
    if not (isinstance(result.dt_ms, int | float | np.floating) and np.isfinite(result.dt_ms)
            and result.dt_ms > 0):
        problems.append(f"dt_ms = {result.dt_ms!r} must be a finite number > 0")
    if problems:
        raise ValueError(where + "inconsistent result: " + "; ".join(problems))


def load_result(path: str | Path) -> SimulationResult:
    """Read a result written by :func:`save_result`; a damaged, foreign or newer-format file
    raises :class:`~bifsnn._h5files.DamagedFileError` naming the file."""
    path = Path(path)
    with open_checked(path, (FORMAT_NAME,), FORMAT_VERSION, "result") as h5:
        arrays = {name: h5[name][()] for name in _ARRAY_FIELDS if name in h5}
        extra = {name: ds[()] for name, ds in h5["extra"].items()} if "extra" in h5 else {}
        if "has_seed" in h5.attrs:
            seed = int(h5.attrs["seed"]) if bool(h5.attrs["has_seed"]) else None
        else:  # format version 1: int64, -1 for None
            seed = int(h5.attrs["seed"])
            seed = None if seed < 0 else seed
        result = SimulationResult(
            model=str(h5.attrs["model"]),
            params=NetworkParams.from_toml(str(h5.attrs["params_toml"])),
            dt_ms=float(h5.attrs["dt_ms"]),
            seed=seed,
            options=json.loads(str(h5.attrs["options_json"])),
            extra=extra,
            version=str(h5.attrs["bifsnn_version"]),
            **arrays,
        )
    try:
        check_result_shapes(result, path)
    except ValueError as exc:
        raise DamagedFileError(str(exc)) from exc
    return result
