"""One loader for every standards-vector file: each entry becomes one named pytest param.

In the manner of cryptography's ``load_vectors_from_file``: a file is read once
at collection, an ``entries`` function splits it into ``(id, value)`` pairs, and
each pair becomes ``pytest.param(value, id="<prefix>-<id>")``, so every vector
is its own test (``ecdsa_secp256r1_sha256_p1363-tc17``, ``cookbook-4_1``).

The :data:`RUN` counter records each vector a test actually ran, keyed by its
source; ``test_wycheproof.py`` ends with a test that compares those counts with
the ``numberOfTests`` each Wycheproof file declares, so none is dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPORA

WYCHEPROOF = CORPORA / "wycheproof"
COOKBOOK = CORPORA / "cookbook"
DATA = Path(__file__).resolve().parent / "jose" / "data"

#: Vectors run in this session, by source name.
RUN: Counter[str] = Counter()

Entries = Callable[[Any], Iterable[tuple[str, Any]]]


@dataclass(frozen=True, slots=True)
class WycheproofCase:
    """One Wycheproof test with its group (the group's ``tests`` list left out)."""

    source: str  # the file name without ``_test.json``
    group: Mapping[str, Any]
    case: Mapping[str, Any]

    @property
    def tc_id(self) -> int:
        """The test's ``tcId``."""
        return int(self.case["tcId"])

    @property
    def result(self) -> str:
        """``valid``, ``invalid`` or ``acceptable``."""
        return str(self.case["result"])

    def hex(self, name: str) -> bytes:
        """A hex member of the test (``msg``, ``sig``, ``tag``, ``key``)."""
        return bytes.fromhex(self.case[name])

    def record(self) -> None:
        """Count this vector as run."""
        RUN[self.source] += 1


def load_vectors_from_file(path: Path, entries: Entries, *, prefix: str) -> list[Any]:
    """Read ``path`` (JSON) and return one ``pytest.param`` per entry, named ``prefix-id``."""
    document = json.loads(path.read_text(encoding="utf-8"))
    params = [pytest.param(value, id=f"{prefix}-{eid}") for eid, value in entries(document)]
    ids = [p.id for p in params]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path.name}: duplicate vector ids")
    return params


def wycheproof_source(name: str) -> str:
    """``ed25519_test.json`` -> ``ed25519``."""
    return name.removesuffix(".json").removesuffix("_test")


def wycheproof_entries(source: str) -> Entries:
    """Entries of a Wycheproof file: one :class:`WycheproofCase` per test, id ``tc<N>``."""

    def entries(document: Any) -> Iterable[tuple[str, WycheproofCase]]:
        for group in document["testGroups"]:
            meta = {k: v for k, v in group.items() if k != "tests"}
            for case in group["tests"]:
                yield f"tc{case['tcId']}", WycheproofCase(source, meta, case)

    return entries


def wycheproof(name: str) -> list[Any]:
    """Params for every test of a Wycheproof file in the corpora."""
    source = wycheproof_source(name)
    return load_vectors_from_file(WYCHEPROOF / name, wycheproof_entries(source), prefix=source)


def declared_tests(name: str) -> int:
    """The ``numberOfTests`` a Wycheproof file declares."""
    document = json.loads((WYCHEPROOF / name).read_text(encoding="utf-8"))
    return int(document["numberOfTests"])


def single(stem: str) -> Entries:
    """Entries of a file that is one vector (a cookbook example, a bare JWK)."""
    return lambda document: [(stem, document)]


def cookbook(pattern: str) -> list[Any]:
    """Params for cookbook files matching ``pattern`` (``jwk/*.json``), id ``cookbook-<n>``."""
    params: list[Any] = []
    for path in sorted(COOKBOOK.glob(pattern)):
        number = path.stem.split(".")[0]  # "4_1.rsa_v15_signature" -> "4_1"
        stem = number if "_" in number and number[0].isdigit() else path.stem
        params += load_vectors_from_file(path, single(stem), prefix="cookbook")
    return params


def rfc_examples(name: str) -> list[Any]:
    """Params for a fixture in ``tests/jose/data``: a JSON object of named examples."""
    return load_vectors_from_file(
        DATA / name, lambda doc: doc["examples"].items(), prefix=name.removesuffix(".json")
    )


def load_fixture(name: str) -> Any:
    """A whole fixture file from ``tests/jose/data``."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))
