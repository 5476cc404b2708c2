"""The README's Python examples run as written (numbers quoted there come from them)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, capsys):
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def test_readme_sweep_spec_is_valid():
    """The TOML sweep spec shown in the README parses and validates (15 x 5 x 2 seeds)."""
    from bifsnn.sweeps import SweepSpec

    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    spec = SweepSpec.from_toml(block)
    assert spec.shape == (15, 5, 2) and len(spec.points_list()) == 150
