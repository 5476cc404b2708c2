"""Generated code still loads when the cache directory cannot be written, and clear_cache
removes it.  These tests check where the code goes, not the model: they evaluate one small
compiled function of the generated module (the edge kernel, generated pieces and template
together), since compiling the whole right-hand side again in a fresh directory cost ~20 s
per test (the right-hand side is tested everywhere else)."""

import numpy as np

from bifsnn.reduction import MarkovModelDef, codegen


def _edge_kernel(model) -> np.ndarray:
    """F and M1 at every edge for one source bin, by the model's generated module."""
    e = model.edges
    F, M1 = np.empty(e.size), np.empty(e.size)
    model.module.edge_kernel(e, 10.0, 14.0, 2.0, 3.0, F, M1)
    return np.concatenate([F, M1])


def test_unwritable_cache_dir_falls_back_to_temp(monkeypatch):
    usual = _edge_kernel(MarkovModelDef().compile())
    # /proc refuses new directories even for root, so the write must take the fallback path
    monkeypatch.setenv("BIFSNN_CACHE_DIR", "/proc/bifsnn-cache-that-cannot-exist")
    monkeypatch.setattr(codegen, "_LOADED", {})
    model = MarkovModelDef().compile()
    assert model.module.__file__.startswith(str(codegen._fallback_dir()))
    values = _edge_kernel(model)
    assert np.all(np.isfinite(values)) and np.ptp(values) > 0
    np.testing.assert_array_equal(values, usual)


def test_clear_cache_removes_generated_code_and_it_is_regenerated(monkeypatch, tmp_path):
    monkeypatch.setenv("BIFSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_LOADED", {})
    first = MarkovModelDef().compile()
    before = _edge_kernel(first)
    generated = list((tmp_path / "reduction").glob("bifsnn_gen_*.py"))
    assert len(generated) == 1
    text = generated[0].read_text()
    from bifsnn.reduction import clear_cache

    assert clear_cache() >= 1
    assert not list((tmp_path / "reduction").glob("bifsnn_gen_*"))
    assert codegen._LOADED == {}
    again = MarkovModelDef().compile()  # regenerated on demand, same code, same numbers
    assert again.module is not first.module
    assert generated[0].read_text() == text
    np.testing.assert_array_equal(_edge_kernel(again), before)
