"""Shared pytest configuration: slow tests are opt-in with --runslow; the run is spread over
the cores by pytest-xdist (``-n auto --dist loadfile`` in pyproject.toml's addopts).

Most of a cold run is numba compiling the generated model modules and the library's kernels,
which is paid by whichever test first calls each function and then read from the on-disk
cache by every later process.  So the tests of one file run in one worker (its group, the
file's path under ``tests/``), the files that share a rarely used generated module are
one group (:data:`GROUPS`: a second worker would compile the same module at the same time),
and the heaviest groups are handed out first (:data:`FIRST`) so that no long group starts
last.  ``-n 0`` runs everything in one process, in file order.
"""

from __future__ import annotations

import pytest

#: Files (paths under tests/, no .py) that form one group with the other files of that name:
#: they compile the same generated module or kernels, which one worker then compiles once.
GROUPS: dict[str, str] = {
    # the reference within-bin rule (MarkovModelDef(bin_rule="reference")): its rhs, Jacobian
    # and map
    "reduction/test_dynamics": "reference-rule",
    "reduction/test_jacobian": "reference-rule",
    "reduction/test_definition": "reference-rule",
    "reduction/test_kernel": "reference-rule",
}

#: Groups handed out first, heaviest first (cold-cache time of the group in one process).
FIRST: tuple[str, ...] = (
    "reference-rule",
    "continuation/test_cycle_normal_forms",  # not the default model: no shared first compile
    "test_readme",
    "sweeps/test_sweep_engine",
    "reduction/test_noise",
    "reduction/test_taylor",
    "reduction/test_integrate",
    "test_cli",
    "continuation/test_periodic_large",
    "test_simulators",
    "reduction/test_coloured",
    "continuation/test_hh_normal_form",
)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")
    if not pluginmanager.hasplugin("xdist"):
        # pytest-xdist not installed (or -p no:xdist): addopts' xdist options are accepted
        # and ignored, and the run is serial, in one process
        group = parser.getgroup("xdist-absent", "pytest-xdist not loaded: these do nothing")
        for name in ("--numprocesses", "--maxprocesses", "--dist"):
            group.addoption(name, dest=f"xdist_absent_{name[2:]}", help="ignored")
        group.addoption("--no-loadscope-reorder", action="store_true",
                        dest="xdist_absent_reorder", help="ignored")


def _group(nodeid: str) -> str:
    """Group of a test: its file's path under tests/ without .py, or the GROUPS entry."""
    name = nodeid.split("::", 1)[0].removesuffix(".py")
    name = name.removeprefix("tests/")
    return GROUPS.get(name, name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """``--dist loadfile`` with the files of GROUPS merged: one work unit per group.  (xdist's
    own ``--dist loadgroup`` marks groups by renaming the tests, which pytest 9.2's node ids
    no longer allow: pytest-xdist issue 1386.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return GroupScheduling(config, log)


def _distributed(config: pytest.Config) -> bool:
    """True in an xdist run (in the controller or in a worker)."""
    return hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", 0))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--runslow"):
        skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip_slow)
    if _distributed(config):
        # the workers' order is the order in which the groups are handed out: the groups of
        # FIRST in that order, then every other test in file order (a stable sort)
        rank = {g: i for i, g in enumerate(FIRST)}
        items.sort(key=lambda it: rank.get(_group(it.nodeid), len(rank)))


def pytest_sessionstart(session: pytest.Session) -> None:
    """In the xdist controller, before the workers start: write the default generated model
    module, so that two workers do not each derive and write it (a second write changes the
    file's time stamp, which voids numba's cache of the other worker's compiles)."""
    config = session.config
    if (hasattr(config, "workerinput") or (getattr(config.option, "numprocesses", 0) or 0) < 2
            or config.getoption("collectonly")):
        return
    from bifsnn.reduction import MarkovModelDef
    from bifsnn.reduction.codegen import load_generated

    load_generated(MarkovModelDef().bin_rule)
