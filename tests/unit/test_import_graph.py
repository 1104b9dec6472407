"""The library's import graph has no circles, and the layers import one way: cli -> pipelines -> steps -> fastdistill."""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph():
    # Every import is counted, including those inside functions (grimp reads the source, it does not run it).
    return grimp.build_graph("fastdistill", "steps", "pipelines", "materializers")


def test_no_module_of_the_library_imports_itself_back(graph):
    library = sorted(m for m in graph.modules if m.startswith("fastdistill"))
    circles = sorted({tuple(sorted((a, b))) for a in library for b in graph.find_modules_directly_imported_by(a)
                      if b.startswith("fastdistill") and graph.chain_exists(importer=b, imported=a)})
    assert circles == []


def test_layers_import_downwards_only(graph):
    # The library is plain Python: it never reaches up into the ZenML steps or pipelines (the CLI may run pipelines).
    library = {m for m in graph.modules if m.startswith("fastdistill") and not m.startswith("fastdistill.cli")}
    upward = {(m, i) for m in library for i in graph.find_modules_directly_imported_by(m)
              if i.split(".")[0] in {"steps", "pipelines", "materializers"}}
    assert upward == set()
    steps_up = {(m, i) for m in graph.modules if m.startswith("steps")
                for i in graph.find_modules_directly_imported_by(m) if i.startswith("pipelines")}
    assert steps_up == set()
