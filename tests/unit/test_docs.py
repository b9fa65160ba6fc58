"""The documentation: generated tables current, links alive, the README short, no project history in it."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300
FORBIDDEN = {
    "an issue number": re.compile(r"\b[Ii]ssues? #?\d+"),
    "a round of work": re.compile(r"\b[Rr]ounds?\b(?!-)"),
    "a dated anecdote": re.compile(r"\b[Bb]efore 20\d\d-"),
    "the project machines' shared folder": re.compile(r"\.\./shared"),
    "an internal file": re.compile(r"STACK\.md|PROVENANCE\.md"),
}
TEST_ONLY_VARIABLES = {"ANIMEGAN_TEST_PHOTOS", "ANIMEGAN_DOCKER_TEST"}
"""Variables the tests read, not the product (CONTRIBUTING.md documents them)."""
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)
VARIABLE = re.compile(r"\bANIMEGAN_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def doc_tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("doc_tables", ROOT / "tools" / "doc_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("doc_tables", module)
    spec.loader.exec_module(module)
    return module


def prose(path: Path) -> str:
    """The text of a document without its code (fenced blocks and inline code)."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def test_generated_tables_are_current() -> None:
    assert doc_tables().stale(ROOT) == [], "run: python tools/doc_tables.py"


def test_readme_is_short() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the limit is {README_MAX_LINES} (move details to docs/)"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_or_internal_references(path: Path) -> None:
    text = path.read_text()
    found = [f"{what}: {m.group(0)!r} on line {text.count(chr(10), 0, m.start()) + 1}"
             for what, pattern in FORBIDDEN.items() for m in pattern.finditer(text)]
    assert not found, "; ".join(found)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    broken = []
    for target in LINK.findall(prose(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.relative_to(ROOT)}: " + ", ".join(broken)


def test_every_setting_is_documented_and_every_documented_variable_exists() -> None:
    settings = set(VARIABLE.findall((ROOT / "animegan" / "settings.py").read_text()))
    readme = set(VARIABLE.findall((ROOT / "README.md").read_text()))
    assert settings - readme == set(), "add these to the README's Configuration table"
    mentioned = {v for path in DOCS for v in VARIABLE.findall(path.read_text())}
    assert mentioned - settings - TEST_ONLY_VARIABLES == set(), "these variables are not read by animegan/settings.py"
