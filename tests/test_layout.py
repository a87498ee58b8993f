"""scripts/layout_report.py, the figures `make test` checks: the tree as it is passes, and each
check catches what it is there for."""

from __future__ import annotations

import ast
import importlib.util

from tests.servers import ROOT

_spec = importlib.util.spec_from_file_location(
    "layout_report", ROOT / "scripts" / "layout_report.py"
)
layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layout)


def test_the_tree_keeps_its_layout():
    data = layout.report()
    assert layout.problems(data) == []
    assert data["environment_readers"] == ["bench/_profhook/sitecustomize.py", "core/settings.py"]
    assert "core" not in data["package_imports"]  # the kernel imports no package of ours
    assert "actions" not in {t for ts in data["package_imports"].values() for t in ts}


def test_environment_reads_are_found_however_they_are_spelt():
    for source in (
        "import os\nos.environ['X']",
        "import os\nos.getenv('X')",
        "from os import environ",
    ):
        assert layout.reads_environment(ast.parse(source)), source
    assert not layout.reads_environment(ast.parse("from core.settings import environment"))


def test_circles_are_found_and_a_chain_is_not_one():
    assert layout.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layout.circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_each_kind_of_problem_is_reported():
    data = layout.report()
    data["import_circles"] = [["privacy.fields", "privacy.keys"]]
    data["modules_over_400_lines"] = ["segmentation/cli.py"]
    data["environment_readers_besides_settings"] = ["actions/store.py"]
    data["single_homes"]["default Redis URL"]["found_in"].append("gateway/config.py")
    data["class_names_defined_twice"] = {"Reply": ["a.py", "b.py"]}
    found = layout.problems(data)
    assert len(found) == 5 and any(
        "default Redis URL: also in gateway/config.py" in p for p in found
    )
