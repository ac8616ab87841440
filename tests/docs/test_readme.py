"""The README links resolve in the repository; its first-token steps are the tested ones."""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, blocks

ROOT = DOCS.parent
README = ROOT / "README.md"


def test_readme_links_resolve_to_files_in_the_repository() -> None:
    """Every relative link names a file that exists (design, docs pages, LICENSE, ...)."""
    links = re.findall(r"\]\(([^)#\s]+)\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert {"docs/design.md", "LICENSE", "CHANGELOG.md", "examples/README.md"} <= set(local)
    missing = [link for link in local if not (ROOT / link).is_file()]
    assert missing == []


def test_readme_first_token_steps_are_the_ones_the_docs_run() -> None:
    """The README's mint-and-verify commands appear verbatim in a tested getting-started block."""
    readme = [b for b in blocks(README) if b.lang == "sh" and "keywell token verify" in b.code]
    assert len(readme) == 1
    steps = readme[0].code.split("\n", 2)[2]  # after `source ...` and `export KEYWELL_TOKEN=...`
    page = [b.code for b in blocks(DOCS / "getting-started.md") if b.lang == "sh"]
    assert steps.strip() in [code.strip() for code in page]


def test_design_document_is_in_the_docs() -> None:
    """The design the README links to is the site's design page."""
    text = (DOCS / "design.md").read_text()
    assert text.startswith("# keywell — design")
