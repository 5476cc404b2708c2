"""The per-step phase timer of benchmarks/bench_continuation_cycles.py."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_continuation_cycles as bench  # noqa: E402


def _burn(seconds: float) -> None:
    c0 = time.process_time()
    while time.process_time() - c0 < seconds:
        pass


def test_phase_timer_exclusive_times_and_restores(monkeypatch):
    # a wrapped function's time excludes the wrapped functions it calls: the phases add up
    # to the CPU time of the outer call (no double counting), and the originals come back
    mod = types.ModuleType("_phase_timer_demo")

    def inner():
        _burn(0.05)

    def outer():
        _burn(0.01)
        mod.inner()  # looked up at call time, as the engine's module globals are

    mod.inner, mod.outer = inner, outer
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    phases = (("outer", mod.__name__, "outer"), ("inner", mod.__name__, "inner"))
    with bench.PhaseTimer(phases) as t:
        assert mod.outer is not outer
        c0 = time.process_time()
        mod.outer()
        mod.outer()
        total = time.process_time() - c0
    assert mod.outer is outer and mod.inner is inner
    assert t.calls == {"outer": 2, "inner": 2}
    assert t.totals["inner"] >= 0.1 > t.totals["outer"] >= 0.0
    assert t.totals["outer"] + t.totals["inner"] <= total + 1e-6


def test_phase_timer_wraps_every_listed_engine_function():
    # every entry of PHASES names an existing function, wrapped while active, restored after
    import importlib

    def resolve(path: str, attr: str):
        obj = importlib.import_module(path)
        *owner, name = attr.split(".")
        for o in owner:
            obj = getattr(obj, o)
        return obj, name

    before = [getattr(*resolve(p, a)) for _, p, a in bench.PHASES]
    with bench.PhaseTimer():
        during = [getattr(*resolve(p, a)) for _, p, a in bench.PHASES]
    after = [getattr(*resolve(p, a)) for _, p, a in bench.PHASES]
    assert all(d is not b for d, b in zip(during, before, strict=True))
    assert all(a is b for a, b in zip(after, before, strict=True))
