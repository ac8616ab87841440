"""A failed open of a store writes nothing: no development KEK file, no database file.

Before, opening a store whose keys are sealed under an environment KEK with no
KEK configured created ``keywell.db.kek`` (a fresh development KEK) and only
then refused. Each member of the kind: the open fails with its typed error and
the directory holds exactly what it held before (names, sizes and contents).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from keywell import Issuer
from keywell.errors import KEKError, KeywellError
from keywell.server import devrun
from keywell.store import SchemaError
from keywell.store.engine import make_engine
from keywell.store.kek import DevelopmentKEKWarning, KEKRing
from keywell.store.migrate import downgrade_engine

_KEK_VARS = ("KEYWELL_KEK", "KEYWELL_KEKS", "KEYWELL_KEK_FILE", "KEYWELL_KEK_ID")


@pytest.fixture(autouse=True)
def no_kek_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _KEK_VARS:
        monkeypatch.delenv(name, raising=False)


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _env_kek_store(folder: Path) -> str:
    url = f"sqlite:///{folder / 'keywell.db'}"
    issuer = Issuer(url, keks=KEKRing.generate("prod-1"), auto_upgrade=True)
    issuer.create_keyset("default", issuer="https://issuer.example")
    issuer.close()
    return url


def _old_schema_store(folder: Path) -> str:
    url = _env_kek_store(folder)
    engine = make_engine(url)
    downgrade_engine(engine)
    engine.dispose()
    return url


Case = tuple[Callable[[Path], str], bool, type[KeywellError]]
CASES: dict[str, Case] = {
    "env-KEK store, no KEK": (_env_kek_store, False, KEKError),
    "env-KEK store, no KEK, auto_upgrade": (_env_kek_store, True, KEKError),
    "no database file, no auto_upgrade": (
        lambda f: f"sqlite:///{f / 'keywell.db'}",
        False,
        SchemaError,
    ),
    "schema behind, no auto_upgrade": (_old_schema_store, False, SchemaError),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failed_open_writes_nothing(tmp_path: Path, case: str) -> None:
    make, auto_upgrade, error = CASES[case]
    url = make(tmp_path)
    before = _listing(tmp_path)
    with pytest.raises(error) as caught:
        Issuer(url, auto_upgrade=auto_upgrade)
    assert _listing(tmp_path) == before
    if error is KEKError:
        assert "prod-1" in str(caught.value)  # names the KEK id the store needs


def test_the_development_server_open_writes_nothing_either(tmp_path: Path) -> None:
    url = _env_kek_store(tmp_path)
    before = _listing(tmp_path)
    with pytest.raises(KEKError):
        devrun._open_development(url, tmp_path / "keywell.db")
    assert _listing(tmp_path) == before
    assert "KEYWELL_KEK_FILE" not in os.environ


def test_a_new_store_still_gets_its_development_kek(tmp_path: Path) -> None:
    """The positive control: a fresh SQLite store creates its 0600 KEK file, once."""
    url = f"sqlite:///{tmp_path / 'keywell.db'}"
    with pytest.warns(DevelopmentKEKWarning):
        issuer = Issuer(url, auto_upgrade=True)
    issuer.create_keyset("default", issuer="https://issuer.example")
    issuer.close()
    kek = tmp_path / "keywell.db.kek"
    assert kek.stat().st_mode & 0o777 == 0o600
    content = kek.read_bytes()
    with pytest.warns(DevelopmentKEKWarning):
        again = Issuer(url)
    assert again.keys("default")
    again.close()
    assert kek.read_bytes() == content
