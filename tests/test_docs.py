"""The docs name what the code has: every folder and module, every environment variable."""

import re
import subprocess

import pytest

from tests.support.harness import REPO

ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
CONFIGURATION = (REPO / "docs" / "configuration.md").read_text()
ENV_EXAMPLE = (REPO / ".env.example").read_text()

# Calls of project/env.py's helpers with a literal name, and the names given to require().
ENV_CALL = re.compile(r"\b(?:env|env_int|env_bool|env_list)\(\s*\"([A-Z][A-Z0-9_]*)\"")
REQUIRE_CALL = re.compile(r"\brequire\(([^)]*)\)")


def tracked_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return listing.stdout.split()


def environment_variables() -> set[str]:
    names = set()
    for path in [*REPO.glob("project/settings/*.py"), *REPO.glob("*/*.py")]:
        source = path.read_text()
        names.update(ENV_CALL.findall(source))
        for arguments in REQUIRE_CALL.findall(source):
            names.update(re.findall(r"\"([A-Z][A-Z0-9_]*)\"", arguments))
    return names


def documented_names() -> set[str]:
    """Top-level folders and app modules, as architecture.md names them in backticks."""
    return set(re.findall(r"`([^`]+)`", ARCHITECTURE))


@pytest.mark.parametrize(
    "folder",
    sorted({path.split("/")[0] for path in tracked_files() if "/" in path}),
)
def test_architecture_names_every_top_level_folder(folder):
    assert f"{folder}/" in documented_names()


def app_modules() -> list[str]:
    modules = set()
    for path in tracked_files():
        parts = path.split("/")
        if (
            parts[0] not in {"project", "streams", "website", "chat", "liveblog", "people"}
            or len(parts) < 2
        ):
            continue
        if parts[1].endswith(".py") and parts[1] != "__init__.py":
            modules.add(f"{parts[0]}/{parts[1]}")
        elif len(parts) > 2:
            modules.add(f"{parts[0]}/{parts[1]}/")
    return sorted(modules)


@pytest.mark.parametrize("module", app_modules())
def test_architecture_names_every_module_of_project_and_the_apps(module):
    app, name = module.split("/", 1)
    section = ARCHITECTURE.split(f"## `{app}/`", 1)[1].split("\n## ", 1)[0]
    assert f"`{name}" in section, f"docs/architecture.md says nothing of {module}"


def test_the_environment_scan_finds_the_required_variables():
    assert {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= (
        environment_variables()
    )


@pytest.mark.parametrize("name", sorted(environment_variables()))
def test_every_environment_variable_is_documented(name):
    assert f"| `{name}` |" in CONFIGURATION, f"docs/configuration.md has no row for {name}"
    assert re.search(rf"^#? ?{name}=", ENV_EXAMPLE, re.MULTILINE), f".env.example lacks {name}"


def life_sections() -> str:
    return "\n".join(
        section for section in ARCHITECTURE.split("\n## ") if section.startswith("The life of")
    )


def code_names() -> set[str]:
    """Every name the code defines or imports (functions, classes, assignments, JS
    methods), and every string it spells (frame types)."""
    names = set()
    for path in tracked_files():
        if path.endswith((".py", ".js")) and not path.startswith("tests/"):
            source = (REPO / path).read_text()
            names.update(re.findall(r"(?:def|class|function)\s+(\w+)", source))
            names.update(re.findall(r"^\s*(\w+)(?:\s*:[^=\n]+)?\s*=", source, re.MULTILINE))
            names.update(re.findall(r"^\s+(?:async\s+)?(\w+)\([^)]*\)\s*\{", source, re.MULTILINE))
            for imported in re.findall(r"^from \S+ import ([\w, ]+)", source, re.MULTILINE):
                names.update(name.strip() for name in imported.split(","))
            names.update(re.findall(r"\"([\w.]+)\"", source))
    return names


def test_the_life_of_a_message_names_only_what_the_code_has():
    named = re.findall(r"`([A-Za-z_][\w.]*)(?:\(\))?`", life_sections())
    assert len(named) > 40
    defined = code_names()
    missing = sorted(
        name for name in set(named) if name not in defined and name.split(".")[-1] not in defined
    )
    assert missing == [], f"docs/architecture.md names what the code does not define: {missing}"


GUARANTEES = (REPO / "docs" / "guarantees.md").read_text()


@pytest.mark.parametrize(
    "reference", sorted(set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", GUARANTEES)))
)
def test_every_test_guarantees_md_names_exists(reference):
    path, name = reference
    source = (REPO / path).read_text()
    assert re.search(rf"^(?:async )?def {name}\(", source, re.MULTILINE), f"{path} has no {name}"
