"""Save and load continuation branches as HDF5 (self-describing, written atomically).

Layout: root attributes ``format = "bifsnn-branch"``, ``format_version``, ``kind``, ``name``,
``status``, ``message``, ``success``, ``param_indices``, ``param_names``/``x_names`` (JSON);
datasets ``x``, ``p``, ``eigenvalues`` (complex), ``n_unstable``, ``tangents``; group
``extra`` (one dataset per array); group ``special_points`` with one subgroup per point
(attributes ``type``, ``index``, ``located``, ``message``; datasets ``x``, ``p``; subgroup
``data`` with arrays as datasets and scalars as attributes).  The problem (a Python
callable) is not stored: a loaded branch has ``problem = None``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bifsnn.continuation.result import Branch, SpecialPoint
from bifsnn.results import atomic_path

__all__ = ["save_branch", "load_branch"]

FORMAT_NAME = "bifsnn-branch"
FORMAT_VERSION = 1


def _write_data(grp, data: dict) -> None:
    none_keys = []
    for key, val in data.items():
        if val is None:
            none_keys.append(key)
        elif isinstance(val, np.ndarray):
            grp.create_dataset(key, data=val)
        elif isinstance(val, (bool, np.bool_)):
            grp.attrs[key] = bool(val)
        elif isinstance(val, (int, float, complex, np.number, str)):
            grp.attrs[key] = val
        else:
            grp.attrs[key] = json.dumps(val, default=str)
    grp.attrs["__none__"] = json.dumps(none_keys)


def _read_data(grp) -> dict:
    out: dict = {}
    for key, ds in grp.items():
        out[key] = ds[()]
    for key, val in grp.attrs.items():
        if key == "__none__":
            for k in json.loads(val):
                out[k] = None
            continue
        if isinstance(val, bytes):
            val = val.decode()
        if isinstance(val, np.generic):
            val = val.item()
        out[key] = val
    return out


def save_branch(branch: Branch, path: str | Path) -> Path:
    """Write ``branch`` to an HDF5 file atomically; returns the path."""
    import h5py

    from bifsnn import __version__

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            a = h5.attrs
            a["format"] = FORMAT_NAME
            a["format_version"] = FORMAT_VERSION
            a["bifsnn_version"] = __version__
            a["kind"] = branch.kind
            a["name"] = branch.name
            a["status"] = branch.status
            a["message"] = branch.message
            a["success"] = bool(branch.success)
            a["param_indices"] = np.asarray(branch.param_indices, dtype=int)
            a["param_names"] = json.dumps(list(branch.param_names or []) or None)
            a["x_names"] = json.dumps(list(branch.x_names or []) or None)
            h5.create_dataset("x", data=branch.x)
            h5.create_dataset("p", data=branch.p)
            h5.create_dataset("eigenvalues", data=branch.eigenvalues)
            h5.create_dataset("n_unstable", data=branch.n_unstable)
            if branch.tangents is not None:
                h5.create_dataset("tangents", data=branch.tangents)
            ex = h5.create_group("extra")
            for key, val in branch.extra.items():
                ex.create_dataset(key, data=np.asarray(val))
            sps = h5.create_group("special_points")
            sps.attrs["count"] = len(branch.special_points)
            for i, s in enumerate(branch.special_points):
                g = sps.create_group(f"{i:05d}")
                g.attrs["type"] = s.type
                g.attrs["index"] = int(s.index)
                g.attrs["located"] = bool(s.located)
                g.attrs["message"] = s.message
                g.attrs["param_indices"] = np.asarray(s.param_indices, dtype=int)
                g.create_dataset("x", data=s.x)
                g.create_dataset("p", data=s.p)
                _write_data(g.create_group("data"), s.data)
    return path


def load_branch(path: str | Path) -> Branch:
    """Read a branch written by :func:`save_branch`."""
    import h5py

    with h5py.File(Path(path), "r") as h5:
        a = h5.attrs
        if a.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a bifsnn branch file")
        sps = []
        grp = h5["special_points"]
        for key in sorted(grp):
            g = grp[key]
            sps.append(SpecialPoint(
                type=str(g.attrs["type"]), index=int(g.attrs["index"]), x=g["x"][()],
                p=g["p"][()], param_indices=tuple(int(k) for k in g.attrs["param_indices"]),
                located=bool(g.attrs["located"]), data=_read_data(g["data"]),
                message=str(g.attrs["message"]),
            ))
        pn = json.loads(a["param_names"])
        xn = json.loads(a["x_names"])
        return Branch(
            kind=str(a["kind"]), x=h5["x"][()], p=h5["p"][()],
            param_indices=tuple(int(k) for k in a["param_indices"]),
            eigenvalues=h5["eigenvalues"][()], n_unstable=h5["n_unstable"][()],
            tangents=h5["tangents"][()] if "tangents" in h5 else None,
            special_points=sps, extra={k: v[()] for k, v in h5["extra"].items()},
            success=bool(a["success"]), status=str(a["status"]), message=str(a["message"]),
            param_names=tuple(pn) if pn else None, x_names=tuple(xn) if xn else None,
            name=str(a["name"]),
        )
