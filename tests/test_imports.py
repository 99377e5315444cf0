"""Imports go one way: project -> website -> the feature apps -> streams.

`project` is the wiring and is imported by nobody (settings are read through
`django.conf.settings`); the engine imports no app; neither feature app
imports the other; `people` (who people are) is a leaf every package may use.
"""

import ast
from pathlib import Path

from tests.support.harness import REPO

# Each top-level package, and the first-party packages it may import.
ALLOWED = {
    "project": {"website", "chat", "liveblog", "streams", "people"},
    "website": {"chat", "liveblog", "streams", "people"},
    "chat": {"streams", "people"},
    "liveblog": {"streams", "people"},
    "streams": {"people"},
    "people": set(),
}


def first_party_imports(path: Path) -> set[str]:
    """The first-party top-level packages a module imports (relative imports stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in ALLOWED)
    return found


def test_every_module_imports_only_the_packages_below_its_own():
    wrong = {}
    for package, allowed in ALLOWED.items():
        for path in sorted((REPO / package).rglob("*.py")):
            forbidden = first_party_imports(path) - allowed - {package}
            if forbidden:
                wrong[str(path.relative_to(REPO))] = sorted(forbidden)
    assert wrong == {}


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "example.py"
    module.write_text("import os\nfrom chat.models import Room\nfrom . import sibling\n")
    assert first_party_imports(module) == {"chat"}
