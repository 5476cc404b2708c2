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
