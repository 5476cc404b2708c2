"""The ground floor: atomic file writes and JSON encoding of numpy values.

Nothing here knows about neurons or continuation; every other module may import it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_create_text", "atomic_path", "atomic_write_text", "json_default"]


@contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """Yield a new empty temporary file in ``path``'s directory; remove it on exit if left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success."""
    path = Path(path)
    with _temp_beside(path) as tmp_path:
        yield tmp_path
        _usual_permissions(tmp_path)
        os.replace(tmp_path, path)


def _usual_permissions(path: Path) -> None:
    """mkstemp creates files 0600: give ``path`` the usual umask-based permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a half-written file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_create_text(path: str | Path, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; return whether this call created it.

    Readers never see a half-written file, and a file another process created first is left
    as it is (not replaced by an equal copy: numba keys its on-disk cache of a module on the
    source file's timestamp, so a second write would void the first process's compiles).
    """
    path = Path(path)
    with _temp_beside(path) as tmp_path:
        tmp_path.write_text(text)
        _usual_permissions(tmp_path)
        try:
            os.link(tmp_path, path)  # atomic, and fails if path exists
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: replace only if still absent
            if path.exists():
                return False
            os.replace(tmp_path, path)
        return True


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` hook: numpy scalars and arrays as Python values."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
