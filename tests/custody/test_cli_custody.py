"""``keywell keyset create --custody``, ``keyset custody --to`` and ``keyset show`` on each backend.

In-process CLI runs on a real SQLite file against the real backends: the
custody is shown (text and ``--json``), a move is audited, and a refused
credential gives one error line with the backend's code and never the secret.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from tests.cli.conftest import run
from tests.custody.contract import Custodian, credential_texts, live_refs

ISS = "https://issuer.cli.test"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return {"KEYWELL_KEK": kek, "KEYWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'kw.db'}"}


def test_create_show_and_move_custody(backend: Custodian, env: dict[str, str]) -> None:
    assert run(["db", "upgrade"], env=env).exit_code == 0
    made = run(["keyset", "create", "api", "--issuer", ISS, "--custody", backend.uri], env=env)
    assert made.exit_code == 0, made.output
    assert f"custody: {backend.uri}" in made.stdout
    shown = json.loads(run(["keyset", "show", "api", "--json"], env=env).stdout)
    assert shown["keyset"]["custody"] == backend.uri
    assert [k["custody"] for k in shown["keys"]] == [backend.uri] * 2
    assert backend.held("api") == live_refs(env["KEYWELL_DATABASE_URL"], "api")
    moved = run(["keyset", "custody", "api", "--to", "db", "--json"], env=env)
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["keyset"]["custody"] == "db"
    text = run(["keyset", "show", "api"], env=env).stdout
    assert "custody: db" in text
    assert text.count(f"lives in custody {backend.uri}") == 2  # the keys stay where they are


def test_a_refused_credential_is_one_error_line_without_the_secret(
    backend: Custodian, env: dict[str, str]
) -> None:
    assert run(["db", "upgrade"], env=env).exit_code == 0
    wrong = backend.backend().wrong_credential_uri()
    create = ["keyset", "create", "api", "--issuer", ISS, "--custody", wrong]
    text, as_json = run(create, env=env), run([*create, "--json"], env=env)
    assert (text.exit_code, as_json.exit_code) == (2, 2)
    assert text.stderr.startswith(f"error: {backend.scheme} custody: generate failed:")
    assert json.loads(as_json.stdout)["error"]["code"] == "KW_CUSTODY"
    for secret in credential_texts(wrong):
        for output in (text.stdout, text.stderr, as_json.stdout, as_json.stderr):
            assert secret not in output
    listed = json.loads(run(["keyset", "list", "--json"], env=env).stdout)
    assert listed == []  # nothing half-created
