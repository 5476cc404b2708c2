"""Save and load continuation branches as HDF5 (self-describing, written atomically).

Layout: root attributes ``format = "bifsnn-branch"``, ``format_version``, ``kind``, ``name``,
``status``, ``message``, ``success``, ``param_indices``, ``param_names``/``x_names`` (JSON);
datasets ``x``, ``p``, ``eigenvalues`` (complex), ``n_unstable``, ``tangents``; group
``extra`` (one dataset per array); group ``special_points`` with one subgroup per point
(attributes ``type``, ``index``, ``located``, ``message``; datasets ``x``, ``p``; subgroup
``data`` with arrays as datasets and scalars as attributes).  The problem (a Python
callable) is not stored: a loaded branch has ``problem = None``.

Cycle branches (:class:`~bifsnn.continuation.periodic.CycleBranch`) use the format
``bifsnn-cycle-branch``: one group per point (attributes ``p``, ``T``, ``ncol``,
``trivial_error``, ``amplitude``, ``newton_iterations``, ``ds``; datasets ``tm``, ``U`` and
``multipliers``), one per special point (``kind``, ``index``, ``p``, ``T``, ``located``,
``multipliers``, ``info``), the options as JSON.  :func:`save_branch` and
:func:`load_branch` handle both kinds.

Format version 2 files start with a 512-byte user block holding the SHA-256 of the rest of
the file (:mod:`bifsnn._h5files`); :func:`load_branch` checks it, the format version and the
per-point array lengths, and refuses a damaged file with a ``DamagedFileError`` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bifsnn._h5files import DamagedFileError, open_checked, write_checked
from bifsnn.continuation.result import Branch, SpecialPoint

__all__ = ["save_branch", "load_branch"]

FORMAT_NAME = "bifsnn-branch"
CYCLE_FORMAT_NAME = "bifsnn-cycle-branch"
#: 2: SHA-256 of the content (root attribute ``sha256``), checked on load with the shapes.
FORMAT_VERSION = 2


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


def _write_header(h5, format_name: str, branch):
    """Root attributes shared by both branch formats; returns the attribute set."""
    from bifsnn._version import __version__

    a = h5.attrs
    a["format"] = format_name
    a["format_version"] = FORMAT_VERSION
    a["bifsnn_version"] = __version__
    a["kind"] = branch.kind
    a["name"] = getattr(branch, "name", "")
    a["message"] = branch.message
    a["success"] = bool(branch.success)
    return a


def save_branch(branch, path: str | Path) -> Path:
    """Write an equilibrium/codim-2 ``Branch`` or a ``CycleBranch`` to an HDF5 file
    atomically; returns the path."""
    path = Path(path)
    if not isinstance(branch, Branch) and hasattr(branch, "points"):
        return _save_cycle_branch(branch, path)
    with write_checked(path) as h5:
        a = _write_header(h5, FORMAT_NAME, branch)
        a["status"] = branch.status
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
    """Read a branch written by :func:`save_branch`; a damaged, foreign or newer-format file
    raises :class:`~bifsnn._h5files.DamagedFileError` naming the file."""
    path = Path(path)
    with open_checked(path, (FORMAT_NAME, CYCLE_FORMAT_NAME), FORMAT_VERSION, "branch") as h5:
        branch = _load_branch_h5(h5)
    try:
        _check_branch_shapes(branch)
    except ValueError as exc:
        raise DamagedFileError(f"{path}: inconsistent branch: {exc}") from exc
    return branch


def _check_branch_shapes(branch) -> None:
    """Raise ValueError if the per-point arrays of a loaded branch disagree in length."""
    if not isinstance(branch, Branch):
        for i, pt in enumerate(branch.points):
            rows = (len(pt.tm) - 1) * int(pt.ncol) + 1  # mesh nodes: ntst * ncol + 1
            if np.ndim(pt.U) != 2 or np.shape(pt.U) != (rows, branch.n):
                raise ValueError(f"point {i}: U {np.shape(pt.U)} does not match the mesh "
                                 f"({rows}, {branch.n})")
        return
    n = len(branch.x)
    lengths = {"x": n, "p": len(branch.p), "eigenvalues": len(branch.eigenvalues),
               "n_unstable": len(branch.n_unstable)}
    if branch.tangents is not None:
        lengths["tangents"] = len(branch.tangents)
    if len(set(lengths.values())) != 1:
        raise ValueError(f"per-point arrays differ in length: {lengths}")
    for sp in branch.special_points:
        if not -1 <= sp.index <= max(n, 1):
            raise ValueError(f"special point {sp.type} index {sp.index} outside 0..{n}")


def _load_branch_h5(h5):
    a = h5.attrs
    if a.get("format") == CYCLE_FORMAT_NAME:
        return _load_cycle_branch(h5)
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


_POINT_SCALARS = ("p", "T", "ncol", "trivial_error", "amplitude", "newton_iterations", "ds")


def _save_cycle_branch(branch, path: Path) -> Path:
    import dataclasses

    with write_checked(path) as h5:
        a = _write_header(h5, CYCLE_FORMAT_NAME, branch)
        a["n"] = int(branch.n)
        a["options"] = json.dumps(dataclasses.asdict(branch.options), default=str)
        pts = h5.create_group("points")
        for i, pt in enumerate(branch.points):
            g = pts.create_group(f"{i:05d}")
            for key in _POINT_SCALARS:
                g.attrs[key] = getattr(pt, key)
            g.create_dataset("tm", data=pt.tm)
            g.create_dataset("U", data=pt.U, compression="gzip")
            if pt.multipliers is not None:
                g.create_dataset("multipliers", data=pt.multipliers)
        sps = h5.create_group("special_points")
        for i, sp in enumerate(branch.special_points):
            g = sps.create_group(f"{i:05d}")
            for key in ("kind", "index", "p", "T", "located"):
                g.attrs[key] = getattr(sp, key)
            if sp.multipliers is not None:
                g.create_dataset("multipliers", data=sp.multipliers)
            _write_data(g.create_group("info"), sp.info)
        ex = h5.create_group("extra")
        _write_data(ex, dict(branch.extra))
    return path


def _load_cycle_branch(h5):
    from bifsnn.continuation.periodic.cycles import (
        CycleBranch,
        CycleOptions,
        CyclePoint,
        CycleSpecialPoint,
    )

    a = h5.attrs
    opts_raw = json.loads(a["options"])
    fields = {f for f in CycleOptions.__dataclass_fields__}
    opts = CycleOptions(**{k: (tuple(v) if isinstance(v, list) else v)
                           for k, v in opts_raw.items() if k in fields})
    points = []
    for key in sorted(h5["points"]):
        g = h5["points"][key]
        scal = {k: (g.attrs[k].item() if isinstance(g.attrs[k], np.generic) else g.attrs[k])
                for k in _POINT_SCALARS}
        points.append(CyclePoint(
            tm=g["tm"][()], U=g["U"][()],
            multipliers=g["multipliers"][()] if "multipliers" in g else None, **scal,
        ))
    specials = []
    for key in sorted(h5["special_points"]):
        g = h5["special_points"][key]
        specials.append(CycleSpecialPoint(
            kind=str(g.attrs["kind"]), index=int(g.attrs["index"]), p=float(g.attrs["p"]),
            T=float(g.attrs["T"]), located=bool(g.attrs["located"]),
            multipliers=g["multipliers"][()] if "multipliers" in g else None,
            info=_read_data(g["info"]),
        ))
    return CycleBranch(points=points, special_points=specials, success=bool(a["success"]),
                       message=str(a["message"]), n=int(a["n"]), options=opts,
                       kind=str(a["kind"]), extra=_read_data(h5["extra"]),
                       name=str(a["name"]))
