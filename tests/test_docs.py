"""The README is a front page (what, the two commands, the flow, where to go next); the reference is in docs/."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_front_page_is_short_and_shows_the_two_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 120
    assert "make corpus" in readme and "make test" in readme
    assert "## The flow" in readme and "## Where to go next" in readme


def test_every_link_of_the_readme_and_docs_opens_a_file():
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert len(pages) > 10
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
    linked = set(LINK.findall((REPO / "docs" / "index.md").read_text()))
    assert {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"} <= linked  # every page is reachable
