"""The documentation site builds from the repository with warnings as errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_docs_site_builds_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "MODEL" / "index.html").exists()
    api = (tmp_path / "api" / "continuation" / "index.html").read_text()
    assert "continue_equilibria" in api  # the reference is generated from the docstrings


TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_code_runs_in_order(tutorial):
    """Every python block of a tutorial runs, in order, in one namespace (as a reader would)."""
    blocks = re.findall(r"```python\n(.*?)```", tutorial.read_text(), flags=re.S)
    assert blocks, f"{tutorial.name} has no code"
    namespace = {"__name__": "tutorial"}
    for code in blocks:
        exec(compile(code, str(tutorial), "exec"), namespace)
