"""The documentation site builds from the repository with warnings as errors."""

import subprocess
import sys
from pathlib import Path

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
