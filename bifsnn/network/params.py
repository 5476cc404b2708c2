"""Network parameters of the excitatory-inhibitory spiking network (docs/MODEL.md section 1).

One immutable, validated object shared by every model kind (SNN, Markov model, reference map,
ODE).  Units: time in ms, voltage dimensionless with threshold ``M``; ``lambda_ext`` is the
external Poisson kick rate per neuron in kicks per ms.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = [
    "NetworkParams",
    "ParameterError",
    "POPULATIONS",
    "PATHWAYS",
]

POPULATIONS: tuple[str, str] = ("E", "I")
#: Pathway "QQ'" means "onto Q from Q'".
PATHWAYS: tuple[str, ...] = ("EE", "EI", "IE", "II")


class ParameterError(ValueError):
    """A parameter is missing, of the wrong kind or outside its allowed range."""


def _field(default: Any, unit: str, meaning: str) -> Any:
    """A NetworkParams field with its unit and meaning (shown by ``bifsnn params``)."""
    return dataclasses.field(default=default, metadata={"unit": unit, "meaning": meaning})


@dataclass(frozen=True, slots=True)
class NetworkParams:
    """Parameters of the E-I network; defaults are those of docs/MODEL.md section 1.

    ``S_QQ'`` is the total voltage one pending spike from ``Q'`` delivers to a neuron of ``Q``;
    ``p_QQ'`` the connection probability; ``tau_QQ'`` (ms) the decay time of pending spikes.
    ``tau_m`` (ms) is an optional membrane leak; ``None`` means no leak.
    """

    N_E: int = _field(300, "", "number of excitatory (E) neurons")
    N_I: int = _field(100, "", "number of inhibitory (I) neurons")
    M: float = _field(100.0, "voltage", "firing threshold: a neuron spikes when V > M")
    V_reset: float = _field(0.0, "voltage", "reset potential after a spike")
    M_r: float = _field(66.0, "voltage", "the inhibitory reversal potential is -M_r")
    lambda_ext: float = _field(7.0, "kicks/ms", "external drive: rate of unit voltage kicks "
                               "per neuron")
    S_EE: float = _field(0.95, "voltage", "total voltage one pending E spike delivers to an "
                         "E neuron")
    S_IE: float = _field(1.25, "voltage", "total voltage one pending E spike delivers to an "
                         "I neuron")
    S_EI: float = _field(2.71, "voltage", "total voltage one pending I spike delivers to an "
                         "E neuron (scaled by (V + M_r) / (M + M_r))")
    S_II: float = _field(2.45, "voltage", "total voltage one pending I spike delivers to an "
                         "I neuron (scaled by (V + M_r) / (M + M_r))")
    p_EE: float = _field(0.8, "", "probability that an E spike reaches an E neuron")
    p_IE: float = _field(0.8, "", "probability that an E spike reaches an I neuron")
    p_EI: float = _field(0.8, "", "probability that an I spike reaches an E neuron")
    p_II: float = _field(0.8, "", "probability that an I spike reaches an I neuron")
    tau_EE: float = _field(1.4, "ms", "decay time of pending E spikes onto E neurons")
    tau_IE: float = _field(1.2, "ms", "decay time of pending E spikes onto I neurons")
    tau_EI: float = _field(4.5, "ms", "decay time of pending I spikes onto E neurons")
    tau_II: float = _field(4.5, "ms", "decay time of pending I spikes onto I neurons")
    tau_R: float = _field(4.0, "ms", "mean refractory period (exponentially distributed)")
    tau_m: float | None = _field(None, "ms", "membrane leak time constant; unset (None) means "
                                 "no leak")
    dt: float = _field(0.1, "ms", "time step of every simulator")

    def __post_init__(self) -> None:
        for f in fields(self):
            _validate_field(f.name, getattr(self, f.name))
        if not (-self.M_r <= self.V_reset < self.M):
            raise ParameterError(
                f"V_reset = {self.V_reset!r} is out of range: must satisfy "
                f"-M_r = {-self.M_r!r} <= V_reset < M = {self.M!r}"
            )
        if self.dt > self.tau_R:
            raise ParameterError(
                f"dt = {self.dt!r} is out of range: must be <= tau_R = {self.tau_R!r} "
                "(dt / tau_R is a per-step probability)"
            )
        # Normalise ints given as floats (e.g. from TOML "300.0") so equality is by value.
        object.__setattr__(self, "N_E", int(self.N_E))
        object.__setattr__(self, "N_I", int(self.N_I))

    # ----------------------------------------------------------------- accessors
    def N(self, pop: str) -> int:
        """Size of population ``pop`` ('E' or 'I')."""
        return {"E": self.N_E, "I": self.N_I}[pop]

    def S(self, pathway: str) -> float:
        return getattr(self, "S_" + pathway)

    def p(self, pathway: str) -> float:
        return getattr(self, "p_" + pathway)

    def tau(self, pathway: str) -> float:
        return getattr(self, "tau_" + pathway)

    # ----------------------------------------------------------------- constructors
    def replace(self, **changes: Any) -> NetworkParams:
        """A copy with some fields changed (validated); unknown names raise ParameterError."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ParameterError(
                f"unknown parameter name(s) {unknown}; valid names: {list(self.field_names())}"
            )
        return dataclasses.replace(self, **changes)

    def scaled(self, k: float) -> NetworkParams:
        """The network k times larger: N -> round(k N), S -> S N_old / N_new (N S fixed)."""
        if not (isinstance(k, int | float) and math.isfinite(k) and k > 0):
            raise ParameterError(f"k = {k!r} is out of range: must be a finite number > 0")
        n_e, n_i = round(k * self.N_E), round(k * self.N_I)
        if n_e < 1 or n_i < 1:
            raise ParameterError(f"k = {k!r} is out of range: scaled sizes must be >= 1")
        ce, ci = self.N_E / n_e, self.N_I / n_i
        return self.replace(
            N_E=n_e, N_I=n_i,
            S_EE=self.S_EE * ce, S_IE=self.S_IE * ce,
            S_EI=self.S_EI * ci, S_II=self.S_II * ci,
        )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One dict per parameter: ``name``, ``default``, ``unit``, ``range`` and ``meaning``."""
        return [
            {"name": f.name, "default": f.default, "unit": f.metadata.get("unit", ""),
             "range": _describe_range(f.name), "meaning": f.metadata.get("meaning", "")}
            for f in fields(cls)
        ]

    # ----------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkParams:
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ParameterError(
                f"unknown parameter name(s) {unknown}; valid names: {list(cls.field_names())}"
            )
        return cls(**data)

    def to_toml(self) -> str:
        """TOML text with one ``name = value`` line per field (``tau_m`` omitted when None)."""
        lines = ["# bifsnn network parameters (docs/MODEL.md section 1); time in ms"]
        for name, value in self.to_dict().items():
            if value is None:
                continue
            lines.append(f"{name} = {value!r}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, source: str | None = None) -> NetworkParams:
        """Parameters from TOML text: ``name = value`` lines at the top level or in one
        ``[network]`` table (unset ones keep their defaults).  Malformed TOML, other tables,
        unknown names and an empty text raise ParameterError (naming ``source`` if given)."""
        where = f"{source}: " if source else ""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"{where}not valid TOML: {exc}") from None
        tables = sorted(k for k, v in data.items() if isinstance(v, dict))
        if "network" in tables and len(data) > 1:
            raise ParameterError(f"{where}give parameters either at the top level or in "
                                 "[network], not both")
        if tables == ["network"]:
            data = data["network"]
            tables = sorted(k for k, v in data.items() if isinstance(v, dict))
        if tables:
            raise ParameterError(
                f"{where}unknown table(s) {['[' + t + ']' for t in tables]}; give parameters "
                "as name = value lines, at the top level or in one [network] table"
            )
        if not data:
            raise ParameterError(
                f"{where}no parameters in it; give name = value lines (see 'bifsnn params')"
            )
        try:
            return cls.from_dict(data)
        except ParameterError as exc:
            raise ParameterError(f"{where}{exc}") from None
        except TypeError as exc:  # pragma: no cover - from_dict checks names first
            raise ParameterError(f"{where}{exc}") from None

    def save_toml(self, path: str | Path) -> None:
        from bifsnn._files import atomic_write_text

        atomic_write_text(Path(path), self.to_toml())

    @classmethod
    def load_toml(cls, path: str | Path) -> NetworkParams:
        """Read a parameter TOML file; every problem raises ParameterError naming the file."""
        path = Path(path)
        if not path.exists():
            raise ParameterError(f"parameter file {path}: no such file")
        if path.is_dir():
            raise ParameterError(f"parameter file {path} is a directory")
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ParameterError(f"parameter file {path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ParameterError(
                f"parameter file {path} is not a text file (not UTF-8; binary?)"
            ) from None
        if "\0" in text:
            raise ParameterError(f"parameter file {path} is not a text file (binary?)")
        return cls.from_toml(text, source=f"parameter file {path}")

    # ----------------------------------------------------------------- CLI helpers
    def with_assignments(self, assignments: list[str]) -> NetworkParams:
        """Apply ``NAME=VALUE`` strings (as from ``--set``), parsing VALUE as a TOML value."""
        changes: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                raise ParameterError(f"--set expects NAME=VALUE, got {item!r}")
            name, raw = (s.strip() for s in item.split("=", 1))
            if raw.lower() in ("none", "null"):
                changes[name] = None
                continue
            try:
                changes[name] = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError as exc:
                raise ParameterError(f"--set {name}: cannot parse value {raw!r}") from exc
        return self.replace(**changes)


_INT_FIELDS = {"N_E", "N_I"}
_PROB_FIELDS = {"p_" + pw for pw in PATHWAYS}
_TAU_FIELDS = {"tau_" + pw for pw in PATHWAYS} | {"tau_R", "dt"}
_STRENGTH_FIELDS = {"S_" + pw for pw in PATHWAYS}


def _describe_range(name: str) -> str:
    if name in _INT_FIELDS:
        return "an integer >= 1"
    if name in _PROB_FIELDS:
        return "a finite number in [0, 1]"
    if name == "dt":
        return "a finite number > 0 and <= tau_R"
    if name in _TAU_FIELDS or name == "M":
        return "a finite number > 0"
    if name == "V_reset":
        return "a finite number with -M_r <= V_reset < M"
    if name == "tau_m":
        return "None (no leak) or a finite number > 0"
    if name in _STRENGTH_FIELDS or name in ("M_r", "lambda_ext"):
        return "a finite number >= 0"
    return "a finite number"


def _validate_field(name: str, value: Any) -> None:
    allowed = _describe_range(name)
    bad = f"{name} = {value!r} is out of range: must be {allowed}"
    if name == "tau_m" and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{name} = {value!r} has the wrong type: must be {allowed}")
    if not math.isfinite(value):
        raise ParameterError(bad)
    if name in _INT_FIELDS:
        if value != int(value) or value < 1:
            raise ParameterError(bad)
    elif name in _PROB_FIELDS:
        if not 0.0 <= value <= 1.0:
            raise ParameterError(bad)
    elif name in _TAU_FIELDS or name in ("M", "tau_m"):
        if value <= 0:
            raise ParameterError(bad)
    elif name in _STRENGTH_FIELDS or name in ("M_r", "lambda_ext"):
        if value < 0:
            raise ParameterError(bad)
