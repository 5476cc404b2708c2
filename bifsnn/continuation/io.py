"""Save and load continuation branches (every kind: EP, PO, LP, H, LPC, PD, NS) as HDF5
(self-describing, written atomically).

Layout: root attributes ``format = "bifsnn-branch"``, ``format_version``, ``bifsnn_version``,
``kind``, ``name``, ``status``, ``message``, ``success``, ``nit``, ``param_indices``,
``param_names``/``x_names`` (JSON), ``options`` and ``collocation`` (JSON of the settings
used, or null); datasets ``x``, ``p``, ``eigenvalues`` (complex), ``n_unstable``,
``tangents`` (if any); group ``extra`` (one dataset per per-point array: on cycle branches
``period``, ``mesh``, ``nodes``, ...); group ``info`` (run scalars); group ``special_points``
with one subgroup per point (attributes ``type``, ``index``, ``located``, ``message``,
``param_indices``; datasets ``x``, ``p``; subgroup ``data`` with arrays as datasets and
scalars as attributes).

Since format version 3 every file starts with a 512-byte user block holding the SHA-256 of
the rest of the file (:mod:`bifsnn._h5files`): :func:`load_branch` checks it before HDF5
parses anything, then the format version and the per-point array lengths, and refuses a
damaged file with a ``DamagedFileError`` naming it.

The problem (Python callables) is not stored: pass it to ``load_branch(path, problem=...)``
to get a branch that can be continued further (its dimension and parameter count are
checked against the file).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn._h5files import DamagedFileError, open_checked, write_checked
from bifsnn.continuation.result import Branch, SpecialPoint

__all__ = ["save_branch", "load_branch"]

FORMAT_NAME = "bifsnn-branch"
#: 2: one layout for every kind (cycles included), ``info``, ``nit``, ``options``,
#: ``collocation``; version-1 files (equilibria and codim-2 curves) still load.
#: 3: the file starts with a 512-byte user block holding the SHA-256 of the rest
#: (:mod:`bifsnn._h5files`), checked before HDF5 parses anything; versions 1-2 (unsigned)
#: still load.
FORMAT_VERSION = 3
#: The first format version whose files must carry the checksum block.
SIGNED_SINCE = 3


def _write_data(grp, data: dict) -> None:
    none_keys, json_keys = [], []
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
            json_keys.append(key)
    grp.attrs["__none__"] = json.dumps(none_keys)
    grp.attrs["__json__"] = json.dumps(json_keys)


def _read_data(grp) -> dict:
    out: dict = {}
    for key, ds in grp.items():
        out[key] = ds[()]
    encoded = set(json.loads(grp.attrs.get("__json__", "[]")))  # tuples / lists / dicts
    for key, val in grp.attrs.items():
        if key == "__none__":
            for k in json.loads(val):
                out[k] = None
            continue
        if key == "__json__":
            continue
        if isinstance(val, bytes):
            val = val.decode()
        if isinstance(val, np.generic):
            val = val.item()
        out[key] = json.loads(val) if key in encoded else val
    return out


def _settings_json(obj) -> str:
    if obj is None or not dataclasses.is_dataclass(obj):
        return "null"
    fields = dataclasses.asdict(obj)
    if isinstance(fields.get("bounds"), dict):  # keep int keys as ints: [[key, lo, hi], ...]
        fields["bounds"] = [[k, float(v[0]), float(v[1])] for k, v in fields["bounds"].items()]
    return json.dumps(fields, default=str)


def _settings(raw: str | None, cls):
    """Rebuild an options/collocation object from its JSON (None if absent or invalid)."""
    if not raw:
        return None
    fields = json.loads(raw)
    if fields is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {}
    for k, v in fields.items():
        if k not in names:
            continue
        if isinstance(v, str) and v in ("inf", "-inf", "nan"):
            v = float(v)
        if k == "locators" and isinstance(v, list):
            v = tuple(v)
        if k == "bounds" and isinstance(v, list):
            v = {key: (lo, hi) for key, lo, hi in v}
        if k == "progress" and not isinstance(v, bool):
            v = False  # a callable is not stored
        kw[k] = v
    if isinstance(kw.get("record"), dict) and kw["record"]:
        # functions are not stored: drop them and the events that use them
        from bifsnn.continuation.options import BUILTIN_EVENTS

        kw["record"] = {}
        kw["events"] = {k: v for k, v in (kw.get("events") or {}).items()
                        if k in BUILTIN_EVENTS}
    try:
        return cls(**kw)
    except (TypeError, ValueError):
        return None


def save_branch(branch: Branch, path: str | Path) -> Path:
    """Write a :class:`Branch` of any kind to an HDF5 file atomically, with a checksum of
    its bytes; returns the path."""
    if not isinstance(branch, Branch):
        raise TypeError(f"branch must be a Branch, got {type(branch).__name__}")
    from bifsnn._version import __version__

    path = Path(path)
    with write_checked(path) as h5:
        a = h5.attrs
        a["format"] = FORMAT_NAME
        a["format_version"] = FORMAT_VERSION
        a["bifsnn_version"] = __version__
        a["kind"] = branch.kind
        a["name"] = branch.name
        a["message"] = branch.message
        a["success"] = bool(branch.success)
        a["status"] = branch.status
        a["nit"] = int(branch.nit)
        a["param_indices"] = np.asarray(branch.param_indices, dtype=int)
        a["param_names"] = json.dumps(list(branch.param_names or []) or None)
        a["x_names"] = json.dumps(list(branch.x_names or []) or None)
        a["options"] = _settings_json(branch.options)
        a["collocation"] = _settings_json(branch.collocation)
        h5.create_dataset("x", data=branch.x)
        h5.create_dataset("p", data=branch.p)
        h5.create_dataset("eigenvalues", data=branch.eigenvalues)
        h5.create_dataset("n_unstable", data=branch.n_unstable)
        if branch.tangents is not None:
            h5.create_dataset("tangents", data=branch.tangents)
        ex = h5.create_group("extra")
        for key, val in branch.extra.items():
            arr = np.asarray(val)
            ex.create_dataset(key, data=arr, compression="gzip" if arr.size > 4096 else None)
        _write_data(h5.create_group("info"), dict(branch.info))
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


def load_branch(path: str | Path, problem: Any = None) -> Branch:
    """Read a branch written by :func:`save_branch`.

    ``problem``: the problem the branch was computed from (an ODEProblem or CycleSystem);
    attached to the branch so that it can be continued (``continue_cycles``,
    ``continue_hopf``, ...).  Its state dimension and number of parameters must match the
    file.  Without it the branch is data only (``problem`` None).  A damaged, foreign or
    newer-format file raises :class:`~bifsnn._h5files.DamagedFileError` naming it."""
    from bifsnn.continuation.options import ContinuationOptions
    from bifsnn.continuation.periodic.discretization import Collocation

    path = Path(path)
    with open_checked(path, (FORMAT_NAME,), FORMAT_VERSION, "branch",
                      signed_since=SIGNED_SINCE) as h5:
        a = h5.attrs
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
        branch = Branch(
            kind=str(a["kind"]), x=h5["x"][()], p=h5["p"][()],
            param_indices=tuple(int(k) for k in a["param_indices"]),
            eigenvalues=h5["eigenvalues"][()], n_unstable=h5["n_unstable"][()],
            tangents=h5["tangents"][()] if "tangents" in h5 else None,
            special_points=sps, extra={k: v[()] for k, v in h5["extra"].items()},
            success=bool(a["success"]), status=str(a["status"]), message=str(a["message"]),
            param_names=tuple(pn) if pn else None, x_names=tuple(xn) if xn else None,
            name=str(a["name"]), nit=int(a.get("nit", 0)),
            info=_read_data(h5["info"]) if "info" in h5 else {},
            options=_settings(a.get("options"), ContinuationOptions),
            collocation=_settings(a.get("collocation"), Collocation),
        )
    n_rows = len(branch)
    rows = (("p", branch.p), ("eigenvalues", branch.eigenvalues),
            ("n_unstable", branch.n_unstable), ("tangents", branch.tangents))
    for key, arr in rows:
        if arr is not None and arr.shape[0] != n_rows:
            raise DamagedFileError(f"{path}: dataset {key!r} has {arr.shape[0]} rows, x has "
                                   f"{n_rows}")
    for sp in branch.special_points:
        if not -1 <= sp.index <= n_rows:
            raise DamagedFileError(f"{path}: special point {sp.type} has index {sp.index}, "
                                   f"outside 0..{n_rows}")
    if problem is not None:
        _check_problem(problem, branch, path)
        branch.problem = problem
    return branch


def _check_problem(problem: Any, branch: Branch, path: Path) -> None:
    n = getattr(problem, "n", None)
    if n is not None and int(n) != branch.x.shape[1]:
        raise ValueError(f"problem has n = {n} states, the branch in {path} has "
                         f"{branch.x.shape[1]}")
    p0 = getattr(problem, "p0", getattr(problem, "params", None))
    if p0 is not None and np.size(p0) != branch.p.shape[1]:
        raise ValueError(f"problem has {np.size(p0)} parameters, the branch in {path} has "
                         f"{branch.p.shape[1]}")
