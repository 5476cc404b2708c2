"""Generated code still loads when the cache directory cannot be written, and clear_cache
removes it.  These tests check where the code goes, not the model: they evaluate one small
compiled function of the generated module (the regularised bin mean: template and generated
piece together), since compiling the whole right-hand side again in a fresh directory cost
~20 s per test and even the edge kernel (its normal cdf and kernel core) ~2 s per compile,
four compiles here (the right-hand side is tested everywhere else)."""

import numpy as np

from bifsnn.reduction import MarkovModelDef, codegen


def _bin_means(model) -> np.ndarray:
    """Bin mean and its derivatives (template ``bin_mean`` calling the generated
    ``bin_mean_raw``) at a few occupations of one bin, by the model's generated module."""
    mid = float(model.edges[3] + 0.5 * model.definition.dv)
    return np.array([model.module.bin_mean(n, n * (mid + 0.3), mid, 0.5)
                     for n in (0.0, 1e-3, 0.7, 20.0)])


def test_unwritable_cache_dir_falls_back_to_temp(monkeypatch):
    usual = _bin_means(MarkovModelDef().compile())
    # /proc refuses new directories even for root, so the write must take the fallback path
    monkeypatch.setenv("BIFSNN_CACHE_DIR", "/proc/bifsnn-cache-that-cannot-exist")
    monkeypatch.setattr(codegen, "_LOADED", {})
    model = MarkovModelDef().compile()
    assert model.module.__file__.startswith(str(codegen._fallback_dir()))
    values = _bin_means(model)
    assert np.all(np.isfinite(values)) and np.ptp(values) > 0
    np.testing.assert_array_equal(values, usual)


def test_clear_cache_removes_generated_code_and_it_is_regenerated(monkeypatch, tmp_path):
    monkeypatch.setenv("BIFSNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_LOADED", {})
    first = MarkovModelDef().compile()
    before = _bin_means(first)
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
    np.testing.assert_array_equal(_bin_means(again), before)
