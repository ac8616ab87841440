"""The admin scopes the documentation names are the server's (``keywell.server.auth.SCOPES``)."""

from __future__ import annotations

import re

from keywell.server.auth import SCOPES
from tests.docs.blocks import DOCS


def test_the_issuing_page_lists_exactly_the_server_scopes() -> None:
    text = (DOCS / "issuing.md").read_text()
    found = re.search(r"bearer tokens with scopes \(([^:]+):", text)
    assert found, "the scope list moved"
    named = re.findall(r"`([a-z]+)`", found.group(1))
    assert named == sorted(SCOPES)
