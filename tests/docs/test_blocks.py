"""The fenced-block collector finds every kind of block a page can hold (so none escapes a run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import NOT_RUN, SERVER, blocks, needs_server

PAGE = f"""{SERVER}
# A page

```python
print("top level")
```

!!! note
    ```sh
    echo "inside an admonition"
    ```

{NOT_RUN}
```sh
make run
```

```python title="with attributes"
x = 1
```

```
no language
```

```text
shown output
```
"""

EXPECTED = [
    # (line, lang, first code line, not_run)
    (4, "python", 'print("top level")', False),
    (9, "sh", 'echo "inside an admonition"', False),
    (14, "sh", "make run", True),
    (18, "python", "x = 1", False),
    (22, "", "no language", False),
    (26, "text", "shown output", False),
]


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    return path


@pytest.mark.parametrize(("index", "expected"), list(enumerate(EXPECTED)))
def test_each_kind_of_block_is_found(page: Path, index: int, expected: tuple[object, ...]) -> None:
    """Top-level, indented, marked, attributed, unlabelled and shown blocks, in order."""
    found = blocks(page)
    assert len(found) == len(EXPECTED)
    block = found[index]
    line, lang, first, not_run = expected
    assert (block.line, block.lang, block.code.splitlines()[0], block.not_run) == (
        line,
        lang,
        first,
        not_run,
    )


def test_indentation_is_removed_and_the_server_marker_seen(page: Path) -> None:
    """An indented block's code is dedented by its fence; the page asks for a server."""
    assert blocks(page)[1].code == 'echo "inside an admonition"\n'
    assert needs_server(page)
