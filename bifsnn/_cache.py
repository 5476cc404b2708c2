"""The ground floor: where bifsnn keeps compiled code, and numba kernels cached on their sources.

Everything bifsnn compiles lives under one cache root, ``$BIFSNN_CACHE_DIR`` or
``~/.cache/bifsnn`` (a per-user temp directory when that cannot be written):

* ``reduction/``: the generated modules of :mod:`bifsnn.reduction.codegen` (and, next to them,
  numba's cache of them), named by a hash of everything they are generated from;
* ``kernels/<module>-<key>/``: numba's cache of the library's kernels (:func:`njit_cached`),
  where ``key`` is a hash of the kernel module's source *and of every module of its package it
  imports, directly or not*.

numba's own ``cache=True`` checks only the file that defines a function, so a kernel whose
callee lives in another file (``_blocked`` calls ``_atomics`` and ``_kernels``) kept running the
old callee after that file changed (an edit, or a ``git pull`` into an editable install).
Keyed on the sources it depends on, a kernel is recompiled after any such change; an older
key's directory stays until :func:`bifsnn.reduction.clear_cache` (which clears the generated
modules and the kernels alike), so two checkouts can share one cache root.  No numba setting
is changed: the key only decides where each kernel's cache files are.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator
from numba.core.dispatcher import Dispatcher

__all__ = ["cache_root", "fallback_root", "kernel_cache_dirs", "clear_kernels", "njit_cached",
           "source_key", "source_files"]

#: Subdirectory of the cache root that holds the kernels' caches (one directory per key).
KERNELS = "kernels"


def cache_root() -> Path:
    """Root of bifsnn's compiled code: $BIFSNN_CACHE_DIR or ~/.cache/bifsnn."""
    env = os.environ.get("BIFSNN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "bifsnn"


def fallback_root() -> Path:
    """Per-user temp directory used when :func:`cache_root` cannot be written."""
    return Path(tempfile.gettempdir()) / f"bifsnn-{os.getuid()}"


# ---------------------------------------------------------------------------------------------
# The key: a hash of a module's source and of the package modules it imports (transitively)
# ---------------------------------------------------------------------------------------------


def _module_file(name: str) -> Path | None:
    """Source file of module ``name`` of an imported top-level package (None if not one)."""
    top = sys.modules.get(name.partition(".")[0])
    top_file = getattr(top, "__file__", None)
    if top_file is None:
        return None
    top_path = Path(top_file).resolve()
    if top_path.name != "__init__.py":  # a plain module, not a package
        return top_path if "." not in name else None
    base = top_path.parent.joinpath(*name.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _import_statements(source: str) -> list[ast.stmt]:
    """The import statements of ``source``, wherever they are (a line scan, then each
    statement parsed alone: parsing and walking whole files cost 60 ms per process)."""
    lines = source.splitlines()
    found: list[ast.stmt] = []
    for i, line in enumerate(lines):
        s = line.lstrip()
        if not (s.startswith("import ") or (s.startswith("from ") and " import" in s)):
            continue
        j = i  # continuation lines: open parentheses or a trailing backslash
        text = s
        while j + 1 < len(lines) and (text.count("(") > text.count(")")
                                      or text.rstrip().endswith("\\")):
            j += 1
            text += "\n" + lines[j]
        try:
            found += ast.parse(text).body
        except SyntaxError:  # prose in a docstring that starts like an import
            continue
    return found


@functools.cache
def _imports(name: str, path: Path) -> frozenset[str]:
    """Names of the modules (and of the names in them) that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_statements(path.read_text()):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return frozenset(found)


def source_files(module: str) -> list[Path]:
    """Source files module ``module`` depends on: its own and those of every module of its
    top-level package that it imports, directly or not (imports anywhere in the file)."""
    top = module.partition(".")[0]
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name.partition(".")[0] != top:
            continue
        path = _module_file(name)
        if path is None:  # a name imported from a module, not a module
            continue
        seen[name] = path
        todo += _imports(name, path)
    return sorted(set(seen.values()))


@functools.cache
def source_key(module: str) -> str:
    """Hash (16 hex digits) of the sources of :func:`source_files` of ``module`` (their
    paths inside the package and their contents); computed once per process."""
    files = source_files(module)
    if not files:
        raise ValueError(f"module = {module!r} has no source file in an imported package")
    top = _module_file(module.partition(".")[0])
    root = top.parent if top is not None and top.name == "__init__.py" else files[0]
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# numba: a cache whose files sit in a directory named by the key
# ---------------------------------------------------------------------------------------------


def kernel_cache_dirs(module: str) -> list[Path]:
    """Candidate cache directories of the kernels of ``module`` (the first writable is used)."""
    name = f"{module}-{source_key(module)}"
    return [cache_root() / KERNELS / name, fallback_root() / KERNELS / name]


class _KeyedLocator(_CacheLocator):
    """numba cache locator: the key's directory, and the key as the source stamp."""

    def __init__(self, py_func: Callable[..., Any], path: Path, key: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno
        self._path = str(path)
        self._key = key

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self) -> str:
        return self._key

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Callable[..., Any], py_file: str) -> _KeyedLocator | None:
        try:
            paths = kernel_cache_dirs(py_func.__module__)
        except ValueError:  # not a module of an imported package (a script): no key
            return None
        for path in paths:
            locator = cls(py_func, path, source_key(py_func.__module__))
            try:
                locator.ensure_cache_path()
            except OSError:  # not writable: try the next one
                continue
            return locator
        return None


class _KeyedImpl(CompileResultCacheImpl):
    _locator_classes = [_KeyedLocator]


class KeyedFunctionCache(FunctionCache):
    """numba's function cache, its files under the kernel module's source key."""

    _impl_class = _KeyedImpl


def njit_cached(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` with an on-disk cache keyed by :func:`source_key` of the
    function's module (instead of ``cache=True``, which checks the defining file only).

    Without a writable cache directory the kernel is compiled in every process, as without
    caching."""
    if "cache" in options:
        raise ValueError("cache: njit_cached always caches; leave the option out")

    def decorate(func: Callable[..., Any]) -> Any:
        dispatcher = numba.njit(**options)(func)
        if not isinstance(dispatcher, Dispatcher):  # NUMBA_DISABLE_JIT
            return dispatcher
        try:
            dispatcher._cache = KeyedFunctionCache(func)
        except RuntimeError:  # numba: no locator available (no writable directory)
            pass
        return dispatcher

    return decorate


def clear_kernels() -> int:
    """Delete the cached kernels of every key (under both roots); return the files removed.

    Kernels already loaded in this process stay usable and are cached again when they next
    compile."""
    removed = 0
    for root in (cache_root(), fallback_root()):
        directory = root / KERNELS
        if not directory.is_dir():
            continue
        for sub in directory.iterdir():
            if sub.is_dir():
                removed += sum(1 for p in sub.rglob("*") if p.is_file())
                shutil.rmtree(sub, ignore_errors=True)
    return removed
