"""The suite's own layout: a test module never imports another test module or the conftest.

What two test modules share lives in `tests/support/`; a test module imported by another runs
its module-level fixtures and markers twice and ties the two together by accident (aiohttp's
own suite keeps the same rule).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, by its full dotted name (`from tests import x` is `tests.x`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "tests":
                names.update(f"tests.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and parts[0] == "tests" and (parts[1].startswith("test_") or parts[1] == "conftest")


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    files = sorted(TESTS.glob("test_*.py")) + [TESTS / "conftest.py"] + sorted((TESTS / "support").glob("*.py"))
    offenders = {
        str(path.relative_to(TESTS)): sorted(name for name in imported_modules(path) if is_test_module(name))
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_each_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("import tests.test_a\nfrom tests.test_b import x\nfrom tests import test_c, support\n")
    assert sorted(filter(is_test_module, imported_modules(sample))) == ["tests.test_a", "tests.test_b", "tests.test_c"]
