"""Compiled kernels are recompiled when any source file they depend on changes (bifsnn._cache).

numba's ``cache=True`` checks only the defining file: a kernel whose callee lives in another
file ran the old callee after that file changed.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from numba.core.dispatcher import Dispatcher

import bifsnn
from bifsnn import _cache
from bifsnn.continuation.periodic import collocation, condensed
from bifsnn.network import _blocked, _kernels, markov, metastability

KERNEL_MODULES = (_blocked, _kernels, markov, metastability)
#: The continuation's kernels (periodic orbits), cached like the network's.
ENGINE_MODULES = (condensed, collocation)


@pytest.mark.parametrize(("modules", "at_least", "module", "depends_on", "kernel"), [
    (KERNEL_MODULES, 20, _blocked, {"_blocked.py", "_atomics.py", "_kernels.py"},
     "pack_alias"),
    (ENGINE_MODULES, 7, condensed, {"condensed.py", "linalg.py"}, "_propagate"),
], ids=["network", "continuation"])
def test_every_kernel_is_cached_on_the_sources_it_depends_on(modules, at_least, module,
                                                             depends_on, kernel):
    kernels = [(m.__name__, name, obj) for m in modules
               for name, obj in vars(m).items()
               if isinstance(obj, Dispatcher) and obj.__module__ == m.__name__]
    assert len(kernels) >= at_least
    plain = [f"{m}.{n}" for m, n, d in kernels
             if not isinstance(d._cache, _cache.KeyedFunctionCache)]
    assert not plain, "numba.njit(cache=True) checks only its own file: use njit_cached"
    files = {p.name for p in _cache.source_files(module.__name__)}
    assert depends_on <= files
    key = _cache.source_key(module.__name__)
    assert Path(getattr(module, kernel).stats.cache_path).name == f"{module.__name__}-{key}"


_PROBE = """
import json
import numpy as np
import bifsnn
from bifsnn.network._blocked import pack_alias
pmf = np.array([1.0, 2.0, 3.0])
out = np.zeros(4, np.uint64)
scratch = (np.zeros(4), np.zeros(4), np.zeros(4, np.int64), np.zeros(4, np.int64),
           np.zeros(4, np.int64))
pack_alias(pmf, 0, 3, out, 0, *scratch)
stats = pack_alias.stats
print(json.dumps({"out": [int(x) for x in out], "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values()), "path": stats.cache_path,
                  "package": bifsnn.__file__}))
"""

#: Appended to the copy's _kernels.py: build_alias now returns a uniform table (prob 1, alias 0)
_EDIT = """

_build_alias_before = build_alias


@njit_cached()
def build_alias(pmf, start, K, prob, alias, small, large) -> None:
    _build_alias_before(pmf, start, K, prob, alias, small, large)
    for j in range(K):
        prob[start + j] = 1.0
        alias[start + j] = 0
"""


def test_editing_only_a_callee_file_recompiles_the_kernel_that_calls_it(tmp_path):
    # a copy of the package: pack_alias (_blocked.py) calls build_alias (_kernels.py)
    shutil.copytree(Path(bifsnn.__file__).parent, tmp_path / "src" / "bifsnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"),
           "BIFSNN_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": str(tmp_path / "nb")}

    def run() -> dict:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    assert Path(cold["package"]).is_relative_to(tmp_path / "src")
    assert cold["misses"] == 1 and cold["hits"] == 0
    assert warm["hits"] == 1 and warm["misses"] == 0 and warm["out"] == cold["out"]
    assert Path(warm["path"]).is_relative_to(tmp_path / "cache" / "kernels")

    with open(tmp_path / "src" / "bifsnn" / "network" / "_kernels.py", "a") as f:
        f.write(_EDIT)
    edited = run()
    assert edited["misses"] == 1 and edited["hits"] == 0, "stale kernel loaded from the cache"
    assert edited["out"] == [(2**32) << 16] * 4 != cold["out"]  # the edited callee ran
    assert edited["path"] != cold["path"]


_PACKAGE = {
    "__init__.py": "",
    "callee.py": "from numba import njit\n\n\n@njit\ndef value():\n    return 1.0\n",
    "kernel.py": """
        from bifsnn._cache import njit_cached
        from kpkg.callee import value


        @njit_cached()
        def kernel(x):
            return x + value()
        """,
}


@pytest.fixture
def kpkg(tmp_path, monkeypatch):
    """A tiny package ``kpkg`` whose kernel calls a function of another file."""
    for name, text in _PACKAGE.items():
        path = tmp_path / "kpkg" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BIFSNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    yield tmp_path / "kpkg"
    for name in list(sys.modules):
        if name.partition(".")[0] == "kpkg":
            del sys.modules[name]
    _cache.source_key.cache_clear()
    _cache._imports.cache_clear()


def test_the_key_covers_the_callee_file_and_names_the_cache_directory(kpkg):
    mod = importlib.import_module("kpkg.kernel")
    assert mod.kernel(1.0) == 2.0
    assert [p.name for p in _cache.source_files("kpkg.kernel")] == ["callee.py", "kernel.py"]
    key = _cache.source_key("kpkg.kernel")
    directory = kpkg.parent / "cache" / "kernels" / f"kpkg.kernel-{key}"
    assert Path(mod.kernel.stats.cache_path) == directory
    assert any(directory.glob("kernel.kernel-*.nbi"))  # the compiled kernel was saved there

    (kpkg / "callee.py").write_text(_PACKAGE["callee.py"].replace("1.0", "2.0"))
    _cache.source_key.cache_clear()
    _cache._imports.cache_clear()
    assert _cache.source_key("kpkg.kernel") != key


def test_kernels_fall_back_to_temp_when_the_cache_root_cannot_be_written(kpkg, monkeypatch):
    # /proc refuses new directories even for root
    monkeypatch.setenv("BIFSNN_CACHE_DIR", "/proc/bifsnn-cache-that-cannot-exist")
    mod = importlib.import_module("kpkg.kernel")
    assert mod.kernel(1.0) == 2.0
    assert Path(mod.kernel.stats.cache_path).parent == kpkg.parent / "tmp" / (
        f"bifsnn-{os.getuid()}") / "kernels"


def test_clear_cache_removes_the_compiled_kernels(kpkg):
    mod = importlib.import_module("kpkg.kernel")
    mod.kernel(1.0)
    directory = Path(mod.kernel.stats.cache_path)
    assert any(directory.iterdir())
    from bifsnn.reduction import clear_cache

    assert clear_cache() >= 2  # index and data file
    assert not directory.exists()


def test_njit_cached_refuses_a_cache_option():
    with pytest.raises(ValueError, match="cache"):
        _cache.njit_cached(cache=False)


def test_the_import_scan_finds_every_import_statement_of_the_package():
    # the key follows imports found by a line scan (cheaper than parsing whole files): it must
    # see every import statement a full parse sees, nested and multi-line ones included
    import ast

    for path in Path(bifsnn.__file__).parent.rglob("*.py"):
        text = path.read_text()
        full = {ast.dump(n) for n in ast.walk(ast.parse(text))
                if isinstance(n, ast.Import | ast.ImportFrom)}
        assert full <= {ast.dump(n) for n in _cache._import_statements(text)}, path
    scanned = _cache._import_statements("x = 1\n'''\nfrom the docs import nothing\n'''\n"
                                        "if x:\n    from a.b import (c,  # comment\n  d)\n")
    assert [ast.dump(n) for n in scanned][-1] == ast.dump(
        ast.parse("from a.b import (c, d)").body[0])
