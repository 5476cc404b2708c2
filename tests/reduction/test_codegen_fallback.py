"""Generated code still loads when the cache directory cannot be written."""

import numpy as np

from bifsnn.reduction import MarkovModelDef, codegen


def test_unwritable_cache_dir_falls_back_to_temp(monkeypatch):
    # /proc refuses new directories even for root, so the write must take the fallback path
    monkeypatch.setenv("BIFSNN_CACHE_DIR", "/proc/bifsnn-cache-that-cannot-exist")
    monkeypatch.setattr(codegen, "_LOADED", {})
    model = MarkovModelDef().compile()
    x = model.definition.initial_state()
    assert np.all(np.isfinite(model.rhs(x)))


def test_clear_cache_removes_generated_code_and_it_is_regenerated(monkeypatch, tmp_path):
    monkeypatch.setenv("BIFSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_LOADED", {})
    first = MarkovModelDef().compile()
    generated = list((tmp_path / "reduction").glob("bifsnn_gen_*.py"))
    assert len(generated) == 1
    from bifsnn.reduction import clear_cache

    assert clear_cache() >= 1
    assert not list((tmp_path / "reduction").glob("bifsnn_gen_*"))
    assert codegen._LOADED == {}
    again = MarkovModelDef().compile()  # regenerated on demand, same numbers
    x = first.definition.initial_state()
    assert generated[0].exists()
    np.testing.assert_array_equal(first.rhs(x), again.rhs(x))
