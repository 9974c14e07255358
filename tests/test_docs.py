"""The README and docs/ stand on their own: every command is listed, no file outside."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS = sorted(
    path.stem for path in (ROOT / "linx" / "management" / "commands").glob("linx_*.py")
)


def test_no_document_points_outside_the_repository():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)]+)\)|`(\.\./[^`]+)`", doc.read_text()):
            link = next(t for t in target if t)
            if "://" in link:
                continue
            resolved = (doc.parent / link.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{doc.name} points outside: {link}"
            assert resolved.exists(), f"{doc.name} points at a missing file: {link}"


def test_the_readme_and_the_cli_reference_name_every_command():
    readme = (ROOT / "README.md").read_text()
    reference = (ROOT / "docs" / "cli.md").read_text()
    assert "(docs/cli.md)" in readme
    for command in COMMANDS:
        assert f"`{command}" in readme, f"the README does not list {command}"
        assert command in reference, f"docs/cli.md does not describe {command}"


def test_the_readme_says_how_to_reach_the_demo_database():
    readme = (ROOT / "README.md").read_text()
    assert ". var/demo.env" in readme and "manage.py" in readme
