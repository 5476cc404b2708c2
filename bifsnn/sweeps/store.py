"""Results store of a sweep: a directory written point by point, resumable, loadable as xarray.

Layout::

    <out>/manifest.json        spec, fingerprint, dims/shape, package version, run log
    <out>/points/<key>.json    one record per finished point (ok or error), written atomically
    <out>/spikes/<key>.h5      optional raw SimulationResult per point (keep_spikes = true)

Each point file appears only once complete (write to a temporary file, then rename), so an
interrupted sweep leaves either a whole record or none; resuming runs exactly the points
without a record.  A store refuses to resume a different sweep (fingerprint mismatch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn._files import atomic_write_text, json_default
from bifsnn.network.params import NetworkParams
from bifsnn.sweeps.classify import DELTA_M_EDGES
from bifsnn.sweeps.spec import OBSERVABLE_GROUPS, SweepSpec

__all__ = [
    "SweepStore",
    "SweepStoreError",
    "load_sweep",
    "require_xarray",
]

FORMAT_NAME = "bifsnn-sweep"
FORMAT_VERSION = 1


#: Files of the store's lock (present before the manifest when a new store is claimed).
_LOCK_FILES = (".lock", ".lock.info")


class SweepStoreError(RuntimeError):
    """The output directory cannot hold or resume this sweep."""


def require_xarray() -> Any:
    """Import xarray or explain that it belongs to the optional ``sweep`` extra."""
    try:
        import xarray
    except ImportError as exc:
        raise ImportError(
            "loading sweep results as labelled arrays needs xarray, part of the optional "
            "'sweep' extra: pip install 'bifsnn[sweep]' (records are plain JSON files in "
            "<out>/points/ meanwhile)"
        ) from exc
    return xarray


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class SweepStore:
    """A sweep output directory (see module docstring)."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def points_dir(self) -> Path:
        return self.path / "points"

    @property
    def spikes_dir(self) -> Path:
        return self.path / "spikes"

    # ----------------------------------------------------------------- creation
    @classmethod
    def open(cls, path: str | Path, spec: SweepSpec | None = None) -> SweepStore:
        """Open ``path``; with ``spec``, create the store or check it holds this sweep."""
        store = cls(Path(path))
        if spec is None:
            if not store.manifest_path.exists():
                raise SweepStoreError(f"{store.path} is not a sweep store (no manifest.json)")
            store.manifest()
            return store
        if store.manifest_path.exists():
            m = store.manifest()
            if m.get("fingerprint") != spec.fingerprint():
                raise SweepStoreError(
                    f"{store.path} holds a different sweep (spec fingerprint "
                    f"{m.get('fingerprint')} != {spec.fingerprint()}); choose another output "
                    "directory or delete this one"
                )
        else:
            if store.path.exists() and any(p.name not in _LOCK_FILES
                                           for p in store.path.iterdir()):
                raise SweepStoreError(
                    f"{store.path} exists, is not empty and is not a sweep store; refusing to "
                    "write into it"
                )
            from bifsnn._version import __version__

            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "bifsnn_version": __version__,
                "created_utc": _now(),
                "fingerprint": spec.fingerprint(),
                "spec": spec.to_dict(),
                "dims": list(spec.dims),
                "shape": list(spec.shape),
                "n_points": spec.n_points,
                "runs": [],
            }
            store._write_manifest(manifest)
        store.points_dir.mkdir(parents=True, exist_ok=True)
        return store

    # ----------------------------------------------------------------- single writer
    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    @property
    def lock_info_path(self) -> Path:
        return self.path / ".lock.info"

    def acquire(self) -> None:
        """Claim the store for this process (one running driver per store).

        The claim is an OS file lock (``filelock``: ``flock`` on ``.lock``), taken without
        waiting; the OS releases it when the holder exits, even when killed, so a killed
        sweep's store is free again at once.  Temporary files a killed driver left
        half-written are removed.  Raises SweepStoreError naming the holder (pid, host and
        start time from ``.lock.info``) if another process holds the store.
        """
        import os
        import socket

        from filelock import FileLock, Timeout

        if self.path.exists() and not self.path.is_dir():
            raise SweepStoreError(f"{self.path} is an existing file; give a directory")
        lock = FileLock(self.lock_path, timeout=0)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            try:
                other = json.loads(self.lock_info_path.read_text())
                who = (f" (pid {other.get('pid')} on {other.get('host')}, started "
                       f"{other.get('started_utc')})")
            except (OSError, ValueError, AttributeError):
                who = ""
            raise SweepStoreError(
                f"{self.path} is in use by another sweep{who}; wait for it to finish (a "
                "killed sweep releases the store at once)"
            ) from None
        except OSError as exc:  # after Timeout, which is an OSError too
            raise SweepStoreError(
                f"cannot create or lock {self.path}: {exc.strerror or exc}"
            ) from None
        self._lock = lock
        atomic_write_text(self.lock_info_path, json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started_utc": _now()}))
        if self.points_dir.exists():
            for tmp in self.points_dir.glob(".p*.tmp"):
                tmp.unlink(missing_ok=True)

    def release(self) -> None:
        """Give up the claim taken by :meth:`acquire` (the lock file itself stays)."""
        lock = getattr(self, "_lock", None)
        if lock is not None:
            self.lock_info_path.unlink(missing_ok=True)
            lock.release()
            self._lock = None

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=1) + "\n")

    def manifest(self) -> dict[str, Any]:
        try:
            m = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SweepStoreError(f"cannot read {self.manifest_path}: {exc}") from exc
        if m.get("format") != FORMAT_NAME:
            raise SweepStoreError(f"{self.manifest_path} is not a bifsnn sweep manifest")
        return m

    def spec(self) -> SweepSpec:
        return SweepSpec.from_dict(self.manifest()["spec"])

    def log_run(self, info: dict[str, Any]) -> None:
        """Append one entry (backend, workers, counts, times) to the manifest's run log."""
        m = self.manifest()
        m.setdefault("runs", []).append({"time_utc": _now(), **info})
        self._write_manifest(m)

    # ----------------------------------------------------------------- points
    def point_path(self, key: str) -> Path:
        return self.points_dir / f"{key}.json"

    def write(self, record: dict[str, Any]) -> Path:
        """Store one point record atomically (NaN written as JSON ``NaN``)."""
        path = self.point_path(record["key"])
        atomic_write_text(path, json.dumps(record, default=json_default) + "\n")
        return path

    def iter_records(self) -> Iterator[dict[str, Any]]:
        if not self.points_dir.exists():
            return
        for f in sorted(self.points_dir.glob("p*.json")):
            try:
                yield json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # cannot happen with atomic writes; treat as not done

    def records(self) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in self.iter_records()}

    def finished_keys(self, *, include_failed: bool = True) -> set[str]:
        """Keys with a record (``include_failed=False``: only successful points)."""
        return {
            r["key"] for r in self.iter_records()
            if include_failed or r.get("status") == "ok"
        }

    def to_dataset(self) -> Any:
        """The results as an ``xarray.Dataset`` (one dimension per swept axis plus ``seed``)."""
        return _build_dataset(self.spec(), self.records(), self.manifest())


def load_sweep(path: str | Path) -> Any:
    """Load a sweep output directory as an ``xarray.Dataset``."""
    return SweepStore.open(path).to_dataset()


def _build_dataset(spec: SweepSpec, records: dict[str, dict[str, Any]],
                   manifest: dict[str, Any]) -> Any:
    xr = require_xarray()
    dims, shape = spec.dims, spec.shape
    coords: dict[str, Any] = {name: ("seed" if name == "seed" else name, vals)
                              for name, vals in spec.coords().items()}
    for name, vals in spec.list_coords().items():
        coords[name] = ("point", vals)
    points = spec.points_list()

    def full(fill: Any, dtype: Any) -> np.ndarray:
        return np.full(shape, fill, dtype=dtype)

    data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    status = full("missing", object)
    error = full("", object)
    elapsed = full(math.nan, float)
    version = full("", object)
    scalar_names = [n for g in spec.observables for n in OBSERVABLE_GROUPS[g]
                    if n not in ("regime", "delta_m_hist")]
    scalars = {n: full(math.nan, float) for n in scalar_names}
    regime = full("", object) if "regime" in spec.observables else None
    n_bins = len(DELTA_M_EDGES) - 1
    hist = (np.full((*shape, n_bins), math.nan) if "delta_m_hist" in spec.observables else None)
    param_names = NetworkParams.field_names()
    params = {n: full(math.nan, float) for n in param_names}
    model = full("", object)
    t_ms = full(math.nan, float)
    for p in points:
        pos = np.unravel_index(p.index, shape)
        for n in param_names:
            v = getattr(p.params, n)
            params[n][pos] = math.nan if v is None else float(v)
        model[pos] = p.model
        t_ms[pos] = p.t_ms
        rec = records.get(p.key)
        if rec is None:
            continue
        status[pos] = rec.get("status", "error")
        error[pos] = rec.get("error", "")
        elapsed[pos] = float(rec.get("elapsed_s", math.nan))
        version[pos] = rec.get("version", "")
        obs = rec.get("observables", {})
        for n in scalar_names:
            if n in obs and obs[n] is not None:
                scalars[n][pos] = float(obs[n])
        if regime is not None and "regime" in obs:
            regime[pos] = obs["regime"]
        if hist is not None and "delta_m_hist" in obs:
            hist[pos] = np.asarray(obs["delta_m_hist"], dtype=float)

    for n, arr in scalars.items():
        data[n] = (dims, arr)
    if regime is not None:
        data["regime"] = (dims, regime.astype(str))
    if hist is not None:
        data["delta_m_hist"] = ((*dims, "delta_m"), hist)
        coords["delta_m"] = ("delta_m", 0.5 * (DELTA_M_EDGES[:-1] + DELTA_M_EDGES[1:]))
    data["status"] = (dims, status.astype(str))
    data["error"] = (dims, error.astype(str))
    data["elapsed_s"] = (dims, elapsed)
    data["point_version"] = (dims, version.astype(str))
    for n in param_names:
        if n not in coords:
            data[f"param_{n}"] = (dims, params[n])
    if "model" not in coords:
        data["model"] = (dims, model.astype(str))
    if "t_ms" not in coords:
        data["t_ms"] = (dims, t_ms)
    n_ok = int(np.sum(status == "ok"))
    n_err = int(np.sum(status == "error"))
    attrs = {
        "name": spec.name,
        "bifsnn_version": manifest.get("bifsnn_version", ""),
        "spec_json": json.dumps(spec.to_dict()),
        "fingerprint": spec.fingerprint(),
        "transient_ms": spec.transient_ms,
        "base_params_toml": NetworkParams(**spec.base).to_toml(),
        "n_points": spec.n_points,
        "n_ok": n_ok,
        "n_error": n_err,
        "n_missing": spec.n_points - n_ok - n_err,
        "created_utc": manifest.get("created_utc", ""),
    }
    ds = xr.Dataset(data_vars=data, coords=coords, attrs=attrs)
    if "param_tau_m" in ds:
        ds["param_tau_m"].attrs["note"] = "NaN means no membrane leak (tau_m = None)"
    return ds
