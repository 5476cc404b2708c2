"""Regenerate the score table of ``figures/fidelity_closures.md`` (issue 11).

Reads the score line of every ``figures/fidelity_*.md`` written by ``fidelity.py`` (and
``fidelity_sde.py``) and writes the table between the file's markers: one row per closure and
grid; files scored against a scaled network (``fidelity_sparse<K>_*``, ``fidelity.py
--snn-scale K --sparse``) get the grid "full, sparse xK" and come after the N = 400 rows.

Usage: ``python analyses/fidelity_table.py`` (``fidelity.py`` runs it after every scoring).
"""

from __future__ import annotations

import re
from pathlib import Path

FIGURES = Path(__file__).resolve().parent.parent / "figures"

SCORE_RE = re.compile(r"\*\*Score: E within 5 %: (\d+)/(\d+), I: (\d+)/\d+, p_EI=1.0 within "
                      r"15 %: (\d+)/(\d+) \(mean \|E error\| ([\d.]+) %, mean \|I error\| "
                      r"([\d.]+) %\)\*\*")
TABLE_BEGIN, TABLE_END = "<!-- scores:begin -->", "<!-- scores:end -->"


def write_score_table() -> str:
    """Regenerate the score table of ``figures/fidelity_closures.md`` (between its markers)
    from the score lines of every ``figures/fidelity_*.md``; return the table."""
    from bifsnn.network.results import atomic_write_text

    rows = ["| closure | grid | E within 5 % | I within 5 % | p_EI = 1.0 within 15 % | "
            "mean abs E / I error |", "|---|---|---|---|---|---|"]
    net_re = re.compile(r"fidelity_(sparse|dense)(\d+)_")
    for f in sorted(FIGURES.glob("fidelity_*.md"), key=lambda f: (
            net_re.match(f.name) is not None, f.stem.endswith("_quick"), f.stem)):
        m = SCORE_RE.search(f.read_text())
        if m is None:
            continue
        name = f.stem.removeprefix("fidelity_")
        quick = name.endswith("_quick")
        # scored against a scaled network (--snn-scale): grid "full, sparse x4"
        net = net_re.match(f.name)
        scaled = f", {net[1]} x{net[2]}" if net else ""
        if net:
            name = name.removeprefix(f"{net[1]}{net[2]}_")
        g = m.groups()
        rows.append(f"| {name.removesuffix('_quick')} | {'quick' if quick else 'full'}{scaled} | "
                    f"{g[0]}/{g[1]} | {g[2]}/{g[1]} | {g[3]}/{g[4]} | {g[5]} % / {g[6]} % |")
    table = "\n".join(rows)
    path = FIGURES / "fidelity_closures.md"
    text = path.read_text() if path.exists() else f"{TABLE_BEGIN}\n{TABLE_END}\n"
    if TABLE_BEGIN not in text:
        text = f"{TABLE_BEGIN}\n{TABLE_END}\n\n" + text
    head, rest = text.split(TABLE_BEGIN, 1)
    tail = rest.split(TABLE_END, 1)[1]
    atomic_write_text(path, f"{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}")
    return table


if __name__ == "__main__":
    print(write_score_table())
