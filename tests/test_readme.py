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


# ----------------------------------------------------------------------------- shell commands

#: README commands the tests do not run, and why (prefix -> reason).
SKIPPED = {
    "python3 -m pip install": "installs packages",
    "python3 -m pytest": "runs the whole test suite, this test included",
    "bifsnn analyse": "takes minutes (continuation plus SNN/Markov/ODE runs at 4-8 values); "
                      "tests/test_analysis.py covers analyse_network",
    "bifsnn sweep spec.toml --out out/sweep  ": "150 SNN points of 2 s: minutes",
    "bifsnn sweep spec.toml --out out/sweep --local-cluster": "the same 150 points on Dask",
    "bifsnn sweep-map out/sweep": "needs the full sweep above",
}


def readme_shell_commands() -> list[str]:
    """Every command of the README's bash blocks (a here-document is one command)."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.search(r"<<'(\w+)'\s*$", line)
            if m:
                end = lines.index(m.group(1), i + 1)
                commands.append("\n".join(lines[i:end + 1]))
                i = end + 1
                continue
            if line.strip():
                commands.append(line)
            i += 1
    return commands


def skip_reason(command: str) -> str | None:
    padded = command.split("#")[0].rstrip() + "  "
    for prefix, reason in SKIPPED.items():
        if padded.startswith(prefix):
            return reason
    return None


def test_readme_shell_commands_are_copy_pastable() -> None:
    commands = readme_shell_commands()
    assert len(commands) >= 10
    for cmd in commands:
        code = cmd.split("#")[0]
        assert not re.search(r"\w\|\w", code), f"a shell pipe where alternatives were meant: {cmd}"
        assert "<" not in code.replace("<<'", ""), f"a placeholder in: {cmd}"


def test_readme_shell_commands_run(tmp_path: Path) -> None:
    """Run every README shell command not in SKIPPED, in order, in one fresh directory (the
    README's sweep spec saved as spec.toml, as it says)."""
    import os
    import subprocess
    import sys

    repo = README.parent
    shim = tmp_path / "bin" / "bifsnn"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; from bifsnn.cli '
                    'import main; sys.exit(main())" "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    (work / "spec.toml").write_text(block)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    ran = 0
    for cmd in readme_shell_commands():
        if skip_reason(cmd):
            continue
        proc = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-2000:]}"
        ran += 1
    assert ran >= 9
    assert (work / "run1" / "result.h5").exists() and not (work / "run1" / "raster.png").exists()
