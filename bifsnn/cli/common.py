"""Options, argument checks and output writing shared by the subcommands.

Every check here runs before any computation and fails with :class:`CliError`, which
:func:`bifsnn.cli.main.main` prints as one line naming the argument (exit code 2).

The output policy of every command that writes a run into ``--out``: a directory that already
holds a bifsnn run is refused unless ``--overwrite`` is given, which first deletes that run's
own files (listed in ``.bifsnn-run.json``; never other files in the directory).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bifsnn.network.params import NetworkParams

__all__ = [
    "CliError",
    "HelpFormatter",
    "OUTPUT_POLICY",
    "add_overwrite_argument",
    "add_run_arguments",
    "check_output_dir",
    "check_output_location",
    "check_times",
    "finish_run",
    "nonneg_float",
    "nonneg_int",
    "params_from_args",
    "positive_float",
    "positive_int",
    "record_run_files",
    "seed_int",
]

#: Name of the file that lists a run's own files in its output directory.
RUN_MANIFEST = ".bifsnn-run.json"
#: Files whose presence marks a directory as holding a bifsnn run (older runs had no manifest).
RUN_MARKERS = ("result.h5", "summary.json", "report.md", "analysis.json", RUN_MANIFEST)
#: What --overwrite deletes in a directory whose run predates the manifest.
_LEGACY_RUN_FILES = (
    "result.h5", "summary.json", "params.toml", "report.md", "analysis.json",
    *(f"{stem}.{ext}" for stem in ("rates", "attractor_fE_fI", "attractor_mEE_mEI",
                                   "delta_m_hist", "raster", "voltage_hist",
                                   "bifurcation_diagram") for ext in ("png", "pdf")),
)
#: Sentence for --help of every command with --out.
OUTPUT_POLICY = (
    "A directory that already holds a bifsnn run is refused unless --overwrite is given, "
    "which first deletes that run's own files (never other files)."
)


class CliError(ValueError):
    """An invalid command-line argument; printed as one line naming it, exit code 2."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"argument {argument}: {message}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help with every option's default after its sentence (``(default: ...)``), except for
    flags and options without a default, and where the sentence already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, [], argparse.SUPPRESS)
                or isinstance(action, argparse._HelpAction | argparse._VersionAction)):
            return text
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Wrap each paragraph; paragraphs of indented lines (examples) are kept as they are."""
        import textwrap

        out = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith((" ", "\t")) for line in lines) or para.endswith(":"):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                         subsequent_indent=indent))
        return "\n\n".join(out)


# --------------------------------------------------------------------------- argparse types


def _number(text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be finite")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be a finite number > 0")
    return value


def nonneg_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be a finite number >= 0")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be an integer >= 1")
    return value


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be an integer >= 0")
    return value


def seed_int(text: str) -> int:
    """argparse type: a seed, 0 <= seed < 2**64 (what the simulators and result files take)."""
    value = _number(text, int)
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range: must be an integer with 0 <= seed < 2**64"
        )
    return value


# --------------------------------------------------------------------------- shared options


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--overwrite`` flag of the output policy (see :data:`OUTPUT_POLICY`)."""
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in --out: its own files are deleted first, other "
        "files are kept",
    )


def add_run_arguments(parser: argparse.ArgumentParser, *, default_t_ms: float = 1000.0,
                      stochastic: bool = True) -> None:
    """Options shared by every command that runs one model and reports its observables
    (``stochastic=False``: no ``--seed`` and no ``--no-progress``, which would do nothing)."""
    parser.add_argument("--params", type=Path, metavar="FILE",
                        help="TOML file of network parameters (see 'bifsnn params'); "
                        "unset ones keep their defaults")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE",
        help="override one parameter (repeatable), e.g. --set p_EI=0.5",
    )
    parser.add_argument("--t-ms", type=positive_float, default=default_t_ms,
                        help="model time to simulate, ms")
    parser.add_argument("--transient-ms", type=nonneg_float, default=100.0,
                        help="initial transient excluded from the summary, ms (< --t-ms)")
    if stochastic:
        parser.add_argument("--seed", type=seed_int, default=0,
                            help="random seed, 0 <= seed < 2**64; equal seeds give "
                            "bit-identical runs")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output directory for result.h5, summary.json, params.toml and "
                        "plots (default: print the summary only). " + OUTPUT_POLICY)
    add_overwrite_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary of the observables to stdout")
    parser.add_argument("--no-plots", action="store_true", help="do not write plots to --out")
    if stochastic:
        parser.add_argument("--no-progress", action="store_true",
                            help="hide the progress bar")


def params_from_args(args: argparse.Namespace) -> NetworkParams:
    """Network parameters from ``--params`` (or the defaults) with ``--set`` overrides."""
    params = NetworkParams.load_toml(args.params) if args.params else NetworkParams()
    return params.with_assignments(args.assignments)


# --------------------------------------------------------------------------- pre-checks


def check_times(t_ms: float, transient_ms: float, *, t_arg: str = "--t-ms",
                transient_arg: str = "--transient-ms", dt_ms: float | None = None) -> None:
    """Raise CliError unless 0 <= transient < t_ms (and t_ms is at least one step dt_ms)."""
    if not (math.isfinite(t_ms) and t_ms > 0):
        raise CliError(t_arg, f"{t_ms:g} is out of range: must be a finite number > 0")
    if dt_ms is not None and t_ms < dt_ms:
        raise CliError(t_arg, f"{t_ms:g} ms is shorter than one step (dt = {dt_ms:g} ms)")
    if not transient_ms < t_ms:
        raise CliError(transient_arg, f"{transient_ms:g} ms must be < {t_arg} = {t_ms:g} ms "
                       "(nothing would be left to analyse)")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: Path | None, *, argument: str = "--out", overwrite: bool = False,
                     expected_bytes: int = 0) -> None:
    """Check an output directory before any work: not an existing file, creatable and
    writable, ``expected_bytes`` free (plus 1 MiB), and not holding another run unless
    ``overwrite`` (which then deletes that run's own files).  Raises CliError."""
    if path is None:
        return
    path = Path(path)
    check_output_location(path, argument=argument, expected_bytes=expected_bytes)
    if path.is_dir():
        held = [name for name in RUN_MARKERS if (path / name).exists()]
        if held and not overwrite:
            raise CliError(argument, f"{path} already holds a run ({', '.join(held)}); pass "
                           "--overwrite to replace it, or choose another directory")
        if held:
            clear_run_files(path)


def check_output_location(path: Path, *, argument: str = "--out",
                          expected_bytes: int = 0) -> None:
    """Raise CliError unless ``path`` is (or can be created as) a writable directory with
    ``expected_bytes`` (plus 1 MiB) free; nothing is created."""
    if path.exists() and not path.is_dir():
        raise CliError(argument, f"{path} is an existing file; give a directory")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise CliError(argument, f"cannot create {path}: {base} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".bifsnn-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CliError(argument, f"cannot write to {base}: {exc.strerror or exc}") from None
    free = shutil.disk_usage(base).free
    need = int(expected_bytes) + 2**20
    if free < need:
        from bifsnn.network._driver import format_bytes

        raise CliError(argument, f"{base} has {format_bytes(free)} free but the output needs "
                       f"about {format_bytes(need)}")


def clear_run_files(path: Path) -> list[str]:
    """Delete the files of the run recorded in ``path`` (its manifest's list, or the standard
    names for runs written before manifests existed); return the names deleted."""
    manifest = path / RUN_MANIFEST
    names: Iterable[str] = _LEGACY_RUN_FILES
    if manifest.exists():
        try:
            names = json.loads(manifest.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            names = _LEGACY_RUN_FILES
    deleted = []
    for name in names:
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            continue  # only plain file names inside the directory
        target = path / name
        if target.is_file() or target.is_symlink():
            target.unlink()
            deleted.append(name)
    manifest.unlink(missing_ok=True)
    return deleted


def record_run_files(path: Path, files: Iterable[str | Path], command: str) -> None:
    """Write ``.bifsnn-run.json`` listing the run's own files (what --overwrite deletes)."""
    from bifsnn._files import atomic_write_text

    names = sorted({Path(f).name for f in files if (path / Path(f).name).exists()})
    atomic_write_text(path / RUN_MANIFEST,
                      json.dumps({"command": command, "files": names}, indent=1) + "\n")


def listing(path: Path | None) -> set[str]:
    """Names of the files now in ``path`` (empty if it does not exist)."""
    if path is None or not Path(path).is_dir():
        return set()
    return {p.name for p in Path(path).iterdir() if p.is_file()}


def result_output_bytes(params: NetworkParams, t_ms: float, *, n_raster: int = 0) -> int:
    """Upper estimate of the size of a run's --out (uncompressed counts, raster, plots)."""
    n_steps = int(t_ms / params.dt) + 1
    raster = int(16 * n_raster * t_ms * 0.1)  # up to 100 Hz
    return 16 * n_steps + raster + 8 * 2**20


# --------------------------------------------------------------------------- output


def finish_run(result: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Write the result file and plots to ``--out`` and print the JSON summary if asked."""
    from bifsnn.network.observables import summary

    info = summary(result, transient_ms=args.transient_ms)
    if args.out is not None:
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        written = [result.save(out / "result.h5")]
        from bifsnn._files import atomic_write_text

        atomic_write_text(out / "summary.json", json.dumps(info, indent=2) + "\n")
        result.params.save_toml(out / "params.toml")
        written += [out / "summary.json", out / "params.toml"]
        if not args.no_plots:
            from bifsnn.network.plots import standard_plots

            written += standard_plots(result, out, transient_ms=args.transient_ms)
        record_run_files(out, written, args.command)
    if args.json:
        print(json.dumps(info))
    elif args.out is None:
        print(_human_summary(info))
    return info


def _human_summary(info: dict[str, Any]) -> str:
    keys = ("rate_e_hz", "rate_i_hz", "ssi_e", "ssi_i", "spectral_peak_hz")
    parts = [f"{k} = {info[k]:.4g}" for k in keys if isinstance(info.get(k), int | float)]
    parts.append(f"n_peaks = {len(info.get('peak_heights', []))}")
    return ", ".join(parts)
