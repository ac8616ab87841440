"""Every Python and shell example in docs/ runs here, so none can rot (see ``blocks.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, RUN, SHOWN, Block, blocks, needs_postgres, needs_server, pages
from tests.docs.server import DocsServer, example_env

# Runs a page's Python blocks in order in one namespace; names the failing block.
DRIVER = """
import json, sys, traceback, types
main = types.ModuleType("__main__")  # the examples run as a script would, in __main__
sys.modules["__main__"] = main
namespace = main.__dict__
for where, code in json.load(sys.stdin):
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED: the example at {where}", file=sys.stderr)
        sys.exit(1)
"""

RUNNABLE = [p for p in pages() if any(b.lang in RUN and not b.not_run for b in blocks(p))]


def _where(block: Block) -> str:
    return f"{block.page.relative_to(DOCS.parent)}:{block.line}"


def _run_shell(block: Block, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"the example at {_where(block)} exited {result.returncode}:\n"
        f"{block.code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def _run_python(group: list[Block], cwd: Path, env: dict[str, str]) -> None:
    payload = json.dumps([(_where(b), b.code) for b in group])
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", DRIVER],
        input=payload,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Run the page's blocks in order: consecutive Python blocks share one process."""
    env = example_env(tmp_path)
    todo = [b for b in blocks(page) if b.lang in RUN and not b.not_run]
    if needs_server(page):
        server: DocsServer = request.getfixturevalue("docs_server")
        env.update(server.env)
        address = server.base.removeprefix("http://")
        todo = [
            Block(b.page, b.line, b.lang, b.code.replace("127.0.0.1:8080", address), b.not_run)
            for b in todo
        ]
    with ExitStack() as stack:
        if needs_postgres(page):
            from tests.store.pgutil import fresh_database

            env["KEYWELL_DATABASE_URL"] = stack.enter_context(fresh_database())
        group: list[Block] = []
        for block in [*todo, None]:
            if block is not None and block.lang == "python":
                group.append(block)
                continue
            if group:  # the Python run so far, in one namespace, before the next shell block
                _run_python(group, tmp_path, env)
                group = []
            if block is not None:
                _run_shell(block, tmp_path, env)


def test_every_block_has_a_known_language() -> None:
    """A block is run (python, sh) or shown (text, toml, ...); a typo must not hide one."""
    unknown = [
        f"{_where(b)} ```{b.lang}" for p in pages() for b in blocks(p) if b.lang not in RUN | SHOWN
    ]
    assert unknown == []


def test_not_run_marks_only_make_targets() -> None:
    """The one exemption covers `make run`/`make test` (CI runs those), nothing else."""
    marked = [b for p in pages() for b in blocks(p) if b.not_run]
    assert marked, "getting-started shows the two make commands"
    for block in marked:
        commands = [ln.split("#")[0].strip() for ln in block.code.splitlines()]
        assert all(c.startswith("make ") for c in commands if c), _where(block)


def test_the_pages_have_examples_that_run() -> None:
    """The collector finds the pages' examples (a parser bug must not make this vacuous)."""
    names = {p.name for p in RUNNABLE}
    assert {"getting-started.md", "verifying.md", "issuing.md", "cli.md"} <= names
