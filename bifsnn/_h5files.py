"""Damage detection for the project's HDF5 files (result files and branch files).

A file written through :func:`write_checked` starts with a 512-byte HDF5 user block (which the
HDF5 library skips) holding a signature line and the SHA-256 of every byte after the block.
:func:`open_checked` reads the file, checks that digest *before* the HDF5 library parses
anything (a damaged HDF5 structure can crash the library, not only raise), then checks the
format name and version.  A damaged, foreign or newer file is refused with a one-line
:class:`DamagedFileError` naming the file, never loaded as different data or reported as a
raw h5py message.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bifsnn._files import atomic_path

__all__ = ["DamagedFileError", "open_checked", "sign_file", "write_checked"]

USERBLOCK_BYTES = 512
SIGNATURE = b"bifsnn-sha256 1\n"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class DamagedFileError(ValueError):
    """A file is missing, unreadable, damaged, of another format or of a newer version."""


def _header(body: bytes | memoryview) -> bytes:
    digest = hashlib.sha256(body).hexdigest().encode()
    return (SIGNATURE + digest + b"\n").ljust(USERBLOCK_BYTES, b"\0")


def sign_file(path: str | Path) -> None:
    """(Re)write the signature block of an HDF5 file created with a 512-byte user block."""
    with open(path, "r+b") as fh:
        data = fh.read()
        if data[USERBLOCK_BYTES:USERBLOCK_BYTES + 8] != HDF5_MAGIC:
            raise ValueError(f"{path} has no {USERBLOCK_BYTES}-byte user block")
        fh.seek(0)
        fh.write(_header(memoryview(data)[USERBLOCK_BYTES:]))


@contextmanager
def write_checked(path: str | Path) -> Iterator[Any]:
    """Yield a new HDF5 file (open for writing at a temporary path); on success sign it and
    move it onto ``path`` atomically, so readers never see a half-written or unsigned file."""
    import h5py

    with atomic_path(Path(path)) as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_BYTES) as h5:
            yield h5
        sign_file(tmp)


def _verified_bytes(path: Path, what: str) -> tuple[bytes, bool]:
    """The file's bytes after checking its signature; (bytes, signed)."""
    if not path.exists():
        raise DamagedFileError(f"{path}: no such file")
    if path.is_dir():
        raise DamagedFileError(f"{path} is a directory, not a {what} file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DamagedFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if data.startswith(HDF5_MAGIC):
        return data, False  # written before signatures existed (format version 1)
    if not data.startswith(SIGNATURE):
        raise DamagedFileError(f"{path} is not a bifsnn {what} file (or its header is damaged)")
    stored = data[len(SIGNATURE):len(SIGNATURE) + 64]
    digest = hashlib.sha256(memoryview(data)[USERBLOCK_BYTES:]).hexdigest().encode()
    if stored != digest or data[:USERBLOCK_BYTES] != _header(memoryview(data)[USERBLOCK_BYTES:]):
        raise DamagedFileError(
            f"{path}: checksum mismatch, the file is damaged (its bytes differ from what was "
            "written)"
        )
    return data, True


@contextmanager
def open_checked(path: str | Path, formats: tuple[str, ...], version: int,
                 what: str, *, signed_since: int = 2) -> Iterator[Any]:
    """Open an HDF5 file written by :func:`write_checked` (read-only, from the verified bytes)
    after checking its checksum, its format name (one of ``formats``) and its format version
    (<= ``version``).

    Unsigned files are accepted only with a format version below ``signed_since`` (written
    before checksums).  Every
    failure raises :class:`DamagedFileError` naming the file; errors raised inside the
    ``with`` block while reading (h5py's, KeyError, ...) are turned into one too.
    """
    import h5py

    path = Path(path)
    data, signed = _verified_bytes(path, what)
    try:
        h5 = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DamagedFileError(
            f"{path} is not a readable {what} file (damaged or not HDF5): {_first_line(exc)}"
        ) from exc
    try:
        try:
            fmt = _text(h5.attrs.get("format"))
            if fmt not in formats:
                raise DamagedFileError(f"{path} is not a bifsnn {what} file (format = {fmt!r})")
            file_version = h5.attrs.get("format_version")
            if not isinstance(file_version, int | np.integer) or file_version < 1:
                raise DamagedFileError(
                    f"{path}: format_version = {file_version!r} is not a valid version"
                )
            if file_version > version:
                raise DamagedFileError(
                    f"{path}: format_version = {int(file_version)} is newer than this bifsnn "
                    f"reads ({version}); upgrade bifsnn to read it"
                )
            if not signed and file_version >= signed_since:
                raise DamagedFileError(f"{path}: the checksum block is missing (damaged file)")
            yield h5
        except DamagedFileError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, IndexError,
                UnicodeDecodeError) as exc:
            raise DamagedFileError(
                f"{path}: cannot read this {what} file: {type(exc).__name__}: {_first_line(exc)}"
            ) from exc
    finally:
        try:
            h5.close()
        except Exception:  # noqa: BLE001 - closing must not mask the error being raised
            pass


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
