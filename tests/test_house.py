"""The house's shape: no import loop, the engine independent of the neuron side.

The ground floor is the package's top-level private modules (``bifsnn._files``, ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

import bifsnn

PACKAGE = Path(bifsnn.__file__).resolve().parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """bifsnn modules imported by ``path`` (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bifsnn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bifsnn"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_no_import_loop_at_module_level():
    modules = _modules()
    graph = {m: {r for i in _imports(p, top_level_only=True)
                 if (r := _resolve(i, modules)) and r != m and not m.startswith(r + ".")}
             for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import loop: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)


def test_continuation_engine_imports_nothing_from_the_neuron_side():
    modules = _modules()
    for name, path in modules.items():
        if not name.startswith("bifsnn.continuation"):
            continue
        for imported in _imports(path, top_level_only=False):
            target = _resolve(imported, modules) or imported
            ground_floor = target.count(".") == 1 and target.startswith("bifsnn._")
            assert target.startswith("bifsnn.continuation") or ground_floor, (
                f"{name} imports {imported}")


def test_library_never_selects_a_matplotlib_backend_or_uses_pyplot():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "matplotlib.use(" not in text, path
        assert "import matplotlib.pyplot" not in text, path


def test_analysis_scripts_are_short_and_use_public_api_only():
    scripts = sorted((PACKAGE.parent / "analyses").glob("*.py"))
    assert scripts
    for path in scripts:
        text = path.read_text()
        assert len(text.splitlines()) < 400, f"{path.name} has {len(text.splitlines())} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bifsnn"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private and "._" not in node.module, (
                    f"{path.name} imports private {node.module} {private}")
            if isinstance(node, ast.Import):
                assert not any("._" in a.name for a in node.names if a.name.startswith("bifsnn"))


def test_every_public_function_class_and_method_has_a_docstring():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if any(part.startswith("_") and part != "__init__.py" for part in rel.parts):
            continue  # private modules (kernels, templates, ground floor helpers)
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef) or node.name.startswith("_"):
                continue
            members = [node] + [m for m in getattr(node, "body", [])
                                if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")]
            missing += [f"{rel}:{m.lineno} {m.name}" for m in members
                        if ast.get_docstring(m) is None
                        and not (m is not node and isinstance(node, ast.FunctionDef))]
    assert not missing, "no docstring: " + ", ".join(missing)
