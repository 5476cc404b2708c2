"""Sweep specifications: which points to run, with what, and what to keep.

A sweep is either a cartesian grid over named axes or an explicit list of points, crossed
with a list of seeds.  Axis names are :class:`~bifsnn.network.params.NetworkParams` fields plus the
special axes ``model`` (snn, markov, map, ode), ``t_ms`` (model time, ms) and ``scale``
(network size factor, applied with ``NetworkParams.scaled``).  Every point's parameters are
built and validated when the spec is constructed, so a bad spec fails before any work starts
with a :class:`SweepSpecError` naming the offending parameter.

TOML form (all tables optional except one of ``[grid]`` / ``[[points]]``)::

    name = "pEI-tauEE"
    model = "snn"                 # default model kind
    t_ms = 1000.0                 # default model time per point, ms
    seeds = [0, 1]                # every point is run once per seed
    transient_ms = 100.0          # excluded from the observables
    observables = ["rates", "ssi", "spectral_peak", "delta_m", "regime"]
    keep_spikes = false           # also store each point's SimulationResult (HDF5)

    [base]                        # NetworkParams overrides shared by all points
    N_E = 300

    [grid]                        # cartesian axes, in dimension order
    p_EI = [0.5, 0.6, 0.7]
    tau_EE = { start = 1.0, stop = 2.0, num = 5 }     # linspace, endpoints included

    [options.snn]                 # keyword arguments for the model kind's runner
    connectivity = "annealed"

    [classifier]                  # RegimeThresholds overrides
    sync_ratio_async = 1.5
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn.network.params import NetworkParams, ParameterError

__all__ = [
    "MODEL_KINDS",
    "OBSERVABLE_GROUPS",
    "SPECIAL_AXES",
    "SweepPoint",
    "SweepSpec",
    "SweepSpecError",
    "SweepSpecWarning",
    "load_spec",
]

#: Model kinds a sweep can run (dispatched through :mod:`bifsnn.sweeps.runners`).
MODEL_KINDS: tuple[str, ...] = ("snn", "markov", "map", "ode")
#: Axes that are not NetworkParams fields.
SPECIAL_AXES: tuple[str, ...] = ("model", "t_ms", "scale")

#: Observable groups a spec can ask for -> the per-point variables each group keeps.
OBSERVABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "rates": ("rate_e_hz", "rate_i_hz"),
    "ssi": ("ssi_e", "ssi_i", "ssi_e_ratio"),
    "spectral_peak": ("spectral_peak_hz",),
    "delta_m": (
        "n_peaks",
        "peak_height_mean",
        "delta_m_mean",
        "delta_m_std",
        "delta_m_rel",
        "delta_m_sign_alternation",
        "delta_m_band_cv",
        "interval_mean_ms",
        "interval_cv",
    ),
    "delta_m_hist": ("delta_m_hist",),
    "regime": ("regime",),
}
DEFAULT_OBSERVABLES: tuple[str, ...] = ("rates", "ssi", "spectral_peak", "delta_m", "regime")

_TOP_LEVEL_KEYS = {
    "name", "model", "t_ms", "seeds", "transient_ms", "observables", "keep_spikes",
    "base", "grid", "points", "options", "classifier",
}


#: Grids with at most this many combinations are resolved (and every point validated) at once.
FULL_RESOLVE_LIMIT = 200_000


def _value_key(value: Any) -> str:
    """Identity of an axis value for de-duplication: 1, 1.0 and 1.00 are the same value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    return json.dumps(value, sort_keys=True, default=str)


class SweepSpecWarning(UserWarning):
    """A sweep spec was accepted with a change (e.g. duplicate grid values removed)."""


class SweepSpecError(ValueError):
    """A sweep specification is malformed; the message names the offending entry."""


@dataclass(frozen=True)
class SweepPoint:
    """One simulation of a sweep: fully resolved parameters, model kind, seed and duration.

    ``index`` is the point's position in C order over the sweep's dimensions; ``coords`` maps
    every dimension name to this point's value (for list sweeps, ``point`` to the list index
    plus every name set in any list entry).
    """

    index: int
    key: str
    coords: dict[str, Any]
    model: str
    params: NetworkParams
    seed: int
    t_ms: float
    options: dict[str, Any] = field(default_factory=dict)


def _expand_values(name: str, raw: Any) -> list[Any]:
    """Axis values from a list, a scalar, or a ``{start, stop, num|step}`` table."""
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - {"start", "stop", "num", "step"})
        if unknown:
            raise SweepSpecError(
                f"axis {name!r}: unknown range key(s) {unknown}; use start, stop and num or step"
            )
        if "start" not in raw or "stop" not in raw:
            raise SweepSpecError(f"axis {name!r}: a range table needs 'start' and 'stop'")
        start, stop = raw["start"], raw["stop"]
        for key, v in (("start", start), ("stop", stop)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SweepSpecError(f"axis {name!r}: range {key} = {v!r} must be a finite number")
        if ("num" in raw) == ("step" in raw):
            raise SweepSpecError(f"axis {name!r}: a range table needs exactly one of num, step")
        if "num" in raw:
            num = raw["num"]
            if isinstance(num, bool) or not isinstance(num, int) or num < 1:
                raise SweepSpecError(
                    f"axis {name!r}: num = {num!r} is out of range: must be an integer >= 1 "
                    "(an empty range is not a sweep)"
                )
            values = np.linspace(start, stop, num)
        else:
            step = raw["step"]
            if isinstance(step, bool) or not isinstance(step, int | float) or step == 0 \
                    or not math.isfinite(step):
                raise SweepSpecError(
                    f"axis {name!r}: step = {step!r} must be a finite non-zero number"
                )
            n = math.floor((stop - start) / step + 1e-9) + 1
            if n < 1:
                raise SweepSpecError(
                    f"axis {name!r}: empty range start={start!r}, stop={stop!r}, step={step!r}"
                )
            values = start + step * np.arange(n)
        all_int = all(isinstance(v, int) for v in (start, stop, raw.get("step", 0)))
        if all_int and "step" in raw:
            return [int(v) for v in values]
        # 12 significant digits: 0.6000000000000001 -> 0.6, so ds.sel(p_EI=0.6) works
        return [float(f"{v:.12g}") for v in values]
    if isinstance(raw, list | tuple | np.ndarray):
        values = [v.item() if isinstance(v, np.generic) else v for v in raw]
        if not values:
            raise SweepSpecError(
                f"axis {name!r}: empty list of values (an empty range is not a sweep)"
            )
        return values
    return [raw.item() if isinstance(raw, np.generic) else raw]


def _check_axis_name(name: str, where: str) -> None:
    if name == "seed" or name == "seeds":
        raise SweepSpecError(
            f"{where}: give seeds with the top-level 'seeds' list, not as {name!r}"
        )
    if name not in NetworkParams.field_names() and name not in SPECIAL_AXES:
        raise SweepSpecError(
            f"{where}: unknown parameter name {name!r}; valid names are the NetworkParams "
            f"fields {list(NetworkParams.field_names())} and {list(SPECIAL_AXES)}"
        )


def _check_special(name: str, value: Any, where: str) -> None:
    if name == "model":
        if value not in MODEL_KINDS:
            raise SweepSpecError(
                f"{where}: model = {value!r} is out of range: must be one of {list(MODEL_KINDS)}"
            )
    elif name in ("t_ms", "scale"):
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= 0:
            raise SweepSpecError(
                f"{where}: {name} = {value!r} is out of range: must be a finite number > 0"
            )


@dataclass(frozen=True)
class SweepSpec:
    """A validated parameter sweep (grid or explicit list) crossed with seeds.

    Exactly one of ``grid`` (ordered mapping axis name -> values) and ``points`` (list of
    mappings axis name -> value) must be given.  Construction validates every point; see the
    module docstring for the meaning of each field and its TOML form.
    """

    grid: Mapping[str, Any] | None = None
    points: Sequence[Mapping[str, Any]] | None = None
    model: str = "snn"
    t_ms: float = 1000.0
    seeds: Sequence[int] = (0,)
    transient_ms: float = 100.0
    observables: Sequence[str] = DEFAULT_OBSERVABLES
    keep_spikes: bool = False
    base: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    classifier: Mapping[str, Any] = field(default_factory=dict)
    name: str = "sweep"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if (self.grid is None) == (self.points is None):
            raise SweepSpecError(
                "a sweep needs exactly one of 'grid' (cartesian) or 'points' (list)"
            )
        _check_special("model", self.model, "model")
        _check_special("t_ms", self.t_ms, "t_ms")
        # seeds
        seeds = list(self.seeds) if isinstance(self.seeds, list | tuple | np.ndarray) \
            else [self.seeds]
        if not seeds:
            raise SweepSpecError("seeds: empty list; give at least one seed")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int | np.integer) or not 0 <= s < 2**64:
                raise SweepSpecError(
                    f"seeds: seed {s!r} is out of range: must be an integer with "
                    "0 <= seed < 2**64"
                )
        if len(set(seeds)) != len(seeds):
            raise SweepSpecError(f"seeds: duplicate seeds in {seeds}")
        set_(self, "seeds", tuple(int(s) for s in seeds))
        if isinstance(self.transient_ms, bool) or not isinstance(self.transient_ms, int | float) \
                or not math.isfinite(self.transient_ms) or self.transient_ms < 0:
            raise SweepSpecError(
                f"transient_ms = {self.transient_ms!r} is out of range: "
                "must be a finite number >= 0"
            )
        obs = [self.observables] if isinstance(self.observables, str) else list(self.observables)
        for o in obs:
            if o not in OBSERVABLE_GROUPS:
                raise SweepSpecError(
                    f"observables: unknown observable {o!r}; choose from {list(OBSERVABLE_GROUPS)}"
                )
        set_(self, "observables", tuple(dict.fromkeys(obs)))
        set_(self, "keep_spikes", bool(self.keep_spikes))
        # base parameters
        base = dict(self.base)
        for name in base:
            if name not in NetworkParams.field_names():
                raise SweepSpecError(
                    f"base: unknown parameter name {name!r}; valid names: "
                    f"{list(NetworkParams.field_names())}"
                )
        try:
            NetworkParams(**base)
        except ParameterError as exc:
            raise SweepSpecError(f"base: {exc}") from exc
        set_(self, "base", base)
        # options per model kind
        options: dict[str, dict[str, Any]] = {}
        for kind, opts in dict(self.options).items():
            if kind not in MODEL_KINDS:
                raise SweepSpecError(
                    f"options: unknown model kind {kind!r}; must be one of {list(MODEL_KINDS)}"
                )
            if not isinstance(opts, Mapping):
                raise SweepSpecError(f"options.{kind}: must be a table of keyword arguments")
            for reserved in ("t_ms", "seed", "progress"):
                if reserved in opts:
                    raise SweepSpecError(
                        f"options.{kind}: {reserved!r} is set by the sweep, not by options"
                    )
            options[kind] = dict(opts)
        set_(self, "options", options)
        # classifier thresholds
        from bifsnn.sweeps.classify import RegimeThresholds

        try:
            RegimeThresholds(**dict(self.classifier))
        except TypeError as exc:
            valid = list(RegimeThresholds.__dataclass_fields__)
            raise SweepSpecError(f"classifier: {exc}; valid thresholds: {valid}") from exc
        except ValueError as exc:
            raise SweepSpecError(f"classifier: {exc}") from exc
        set_(self, "classifier", dict(self.classifier))
        # axes
        if self.grid is not None:
            if not isinstance(self.grid, Mapping) or not self.grid:
                raise SweepSpecError("grid: needs at least one axis")
            grid: dict[str, list[Any]] = {}
            for name, raw in self.grid.items():
                _check_axis_name(name, f"grid.{name}")
                values = _expand_values(name, raw)
                unique = list({_value_key(v): v for v in reversed(values)}.values())[::-1]
                if len(unique) != len(values):
                    warnings.warn(
                        f"grid.{name}: duplicate values removed ({values} -> {unique}); "
                        "each point is computed once", SweepSpecWarning, stacklevel=3,
                    )
                grid[name] = unique
            set_(self, "grid", grid)
            overridden = sorted(set(base) & set(grid))
            if overridden:
                raise SweepSpecError(
                    f"base.{overridden[0]} = {base[overridden[0]]!r} is overridden by "
                    f"grid.{overridden[0]} at every point; remove it from [base]"
                )
        else:
            pts = list(self.points or [])
            if not pts:
                raise SweepSpecError("points: empty list (an empty sweep does nothing)")
            clean = []
            for i, entry in enumerate(pts):
                if not isinstance(entry, Mapping) or not entry:
                    raise SweepSpecError(f"points[{i}]: must be a non-empty table name = value")
                for name in entry:
                    _check_axis_name(name, f"points[{i}].{name}")
                clean.append(dict(entry))
            overridden = sorted(set(base).intersection(*[set(e) for e in clean]))
            if overridden:
                raise SweepSpecError(
                    f"base.{overridden[0]} = {base[overridden[0]]!r} is overridden by every "
                    "entry of [[points]]; remove it from [base]"
                )
            set_(self, "points", clean)
        # Validate every point now: nothing runs before the whole sweep is valid.  Up to
        # FULL_RESOLVE_LIMIT combinations are resolved and kept; beyond, every axis value and
        # every corner of the grid is checked (all parameter constraints are linear
        # inequalities, so the corners bound every combination), and points_list() resolves
        # on demand: a 10**8-point spec validates and counts in milliseconds.
        set_(self, "_resolved", None)
        if self._n_combinations() <= FULL_RESOLVE_LIMIT:
            set_(self, "_resolved", tuple(self._resolve()))
        else:
            for coords, assign in self._validation_assignments():
                self._point_setup(coords, assign)

    # ----------------------------------------------------------------- structure
    @property
    def dims(self) -> tuple[str, ...]:
        """Dimension names of the results: grid axes (or ``point``), then ``seed``."""
        if self.grid is not None:
            return (*self.grid.keys(), "seed")
        return ("point", "seed")

    @property
    def shape(self) -> tuple[int, ...]:
        if self.grid is not None:
            return (*(len(v) for v in self.grid.values()), len(self.seeds))
        return (len(self.points or ()), len(self.seeds))

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    def coords(self) -> dict[str, list[Any]]:
        """Coordinate values of every dimension (list sweeps: ``point`` plus per-entry names)."""
        out: dict[str, list[Any]] = {}
        if self.grid is not None:
            out.update({k: list(v) for k, v in self.grid.items()})
        else:
            out["point"] = list(range(len(self.points or ())))
        out["seed"] = list(self.seeds)
        return out

    def list_coords(self) -> dict[str, list[Any]]:
        """For list sweeps: every name set in any entry -> its effective value per entry."""
        if self.points is None:
            return {}
        names = list(dict.fromkeys(n for e in self.points for n in e))
        return {n: [self._effective(e, n) for e in self.points] for n in names}

    def _effective(self, assignment: Mapping[str, Any], name: str) -> Any:
        if name in assignment:
            return assignment[name]
        if name == "model":
            return self.model
        if name == "t_ms":
            return self.t_ms
        if name == "scale":
            return 1.0
        return self.base.get(name, getattr(NetworkParams(), name))

    def points_list(self) -> list[SweepPoint]:
        """Every point of the sweep in C order over :attr:`dims`."""
        if self._resolved is None:  # type: ignore[attr-defined]
            object.__setattr__(self, "_resolved", tuple(self._resolve()))
        return list(self._resolved)  # type: ignore[attr-defined]

    def sample_points(self) -> list[SweepPoint]:
        """Points that exercise every axis value and every grid corner (all points when the
        sweep is small): what runner-option checks need, without building a huge grid."""
        if self._resolved is not None:  # type: ignore[attr-defined]
            return list(self._resolved)  # type: ignore[attr-defined]
        out = []
        for i, (coords, assign) in enumerate(self._validation_assignments()):
            model, t_ms, params, opts = self._point_setup(coords, assign)
            seed = self.seeds[0]
            out.append(SweepPoint(index=-1, key=f"sample{i}", coords={**coords, "seed": seed},
                                  model=model, params=params, seed=seed, t_ms=t_ms,
                                  options=opts))
        return out

    def _n_combinations(self) -> int:
        if self.grid is not None:
            return math.prod(len(v) for v in self.grid.values())
        return len(self.points or ())

    def _validation_assignments(self) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        """Each axis value alone (others at their first value) and every corner (numeric
        axes at their min and max, other axes at each value) of a grid."""
        assert self.grid is not None  # list sweeps are always resolved in full
        names = list(self.grid)
        first = {n: v[0] for n, v in self.grid.items()}
        seen: set[str] = set()
        for name, values in self.grid.items():
            for v in values:
                a = {**first, name: v}
                key = json.dumps(a, sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    yield dict(a), a
        extremes = []
        for values in self.grid.values():
            nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            extremes.append([min(nums), max(nums)] if len(nums) == len(values) else values)
        for combo in itertools.product(*extremes):
            a = dict(zip(names, combo, strict=True))
            key = json.dumps(a, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                yield dict(a), a

    def _assignments(self) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        """(coords without seed, assignment) for every non-seed combination, in C order."""
        if self.grid is not None:
            names = list(self.grid)
            for combo in itertools.product(*self.grid.values()):
                a = dict(zip(names, combo, strict=True))
                yield dict(a), a
        else:
            lc = self.list_coords()
            for i, entry in enumerate(self.points or ()):
                c = {"point": i, **{n: v[i] for n, v in lc.items()}}
                yield c, dict(entry)

    def _point_setup(self, coords: Mapping[str, Any], assign: Mapping[str, Any]
                     ) -> tuple[str, float, NetworkParams, dict[str, Any]]:
        """(model, t_ms, params, options) of one combination; raises SweepSpecError."""
        where = ", ".join(f"{k}={v!r}" for k, v in coords.items())
        for name in SPECIAL_AXES:
            if name in assign:
                _check_special(name, assign[name], f"point ({where})")
        model = assign.get("model", self.model)
        t_ms = float(assign.get("t_ms", self.t_ms))
        if self.transient_ms >= t_ms:
            raise SweepSpecError(
                f"point ({where}): transient_ms = {self.transient_ms!r} must be < t_ms = "
                f"{t_ms!r} (nothing would be left to analyse)"
            )
        changes = {k: v for k, v in assign.items() if k not in SPECIAL_AXES}
        try:
            params = NetworkParams(**{**self.base, **changes})
            if "scale" in assign:
                params = params.scaled(assign["scale"])
        except ParameterError as exc:
            raise SweepSpecError(f"point ({where}): {exc}") from exc
        return model, t_ms, params, dict(self.options.get(model, {}))

    def _resolve(self) -> Iterable[SweepPoint]:
        index = 0
        for coords, assign in self._assignments():
            model, t_ms, params, opts = self._point_setup(coords, assign)
            for seed in self.seeds:
                yield SweepPoint(
                    index=index,
                    key=f"p{index:07d}",
                    coords={**coords, "seed": seed},
                    model=model,
                    params=params,
                    seed=seed,
                    t_ms=t_ms,
                    options=opts,
                )
                index += 1

    # ----------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (round-trips through :meth:`from_dict`)."""
        d: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "t_ms": self.t_ms,
            "seeds": list(self.seeds),
            "transient_ms": self.transient_ms,
            "observables": list(self.observables),
            "keep_spikes": self.keep_spikes,
            "base": dict(self.base),
            "options": {k: dict(v) for k, v in self.options.items()},
            "classifier": dict(self.classifier),
        }
        if self.grid is not None:
            d["grid"] = {k: list(v) for k, v in self.grid.items()}
        else:
            d["points"] = [dict(p) for p in self.points or ()]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
        if unknown:
            raise SweepSpecError(
                f"unknown sweep key(s) {unknown}; valid keys: {sorted(_TOP_LEVEL_KEYS)} "
                "(network parameters go in [base], swept ones in [grid] or [[points]])"
            )
        return cls(**dict(data))

    @classmethod
    def from_toml(cls, text: str) -> SweepSpec:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SweepSpecError(f"sweep spec is not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    def fingerprint(self) -> str:
        """Hash of everything that determines the points' results (for safe resuming)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec TOML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SweepSpecError(f"cannot read sweep spec {path}: {exc}") from exc
    return SweepSpec.from_toml(text)
