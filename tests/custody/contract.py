"""What the custody contract suite works with: a custody under test, an Issuer, store reads.

:class:`Custodian` wraps one custody (``db``, or a real backend's
:class:`~tests.custody.handles.BackendHandle`) with a fresh URI; the helpers
read the store's rows with SQL (the tests check what the store holds, not
only what the Issuer says) and verify tokens with keywell and with PyJWT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt as pyjwt
from sqlalchemy import select

from keywell import JWKSet, jwt
from keywell.custody import parse_custody
from keywell.issuer import Issuer
from keywell.lifecycle import RotationPolicy
from keywell.store import tables as t
from keywell.store.engine import make_engine
from keywell.store.kek import KEKRing
from tests.custody.handles import BackendHandle

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ISS = "https://issuer.test"
DAY = timedelta(days=1)
#: Short enough that a retired key expires within a few simulated days.
POLICY = RotationPolicy(
    rotation_period=DAY,
    prepublish=DAY,
    max_token_ttl=timedelta(hours=1),
    jwks_max_age=timedelta(hours=1),
)
GONE = ("expired", "revoked")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Custodian:
    """One custody under test: ``uri`` is fresh (an empty token, mount or key store)."""

    scheme: str
    uri: str
    handle: BackendHandle | None

    def backend(self) -> BackendHandle:
        """The real backend's handle (the db custody has none)."""
        if self.handle is None:
            raise AssertionError("the db custody has no backend")
        return self.handle

    def held(self, keyset: str, uri: str | None = None) -> set[str]:
        """The refs the backend holds for ``keyset`` (asked with its own client)."""
        return self.backend().held(uri or self.uri, keyset)


def make_issuer(url: str, clock: Clock, keks: KEKRing | None = None) -> Issuer:
    """An Issuer on ``url`` with readiness answers never cached (the tests move fast)."""
    return Issuer(
        url, keks=keks or KEKRing.generate(), clock=clock, auto_upgrade=True, custody_check_ttl=0
    )


def rows(url: str, keyset: str) -> list[Any]:
    """The key rows of ``keyset``, oldest first, read with SQL."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.keys)
                    .join(t.keysets, t.keysets.c.id == t.keys.c.keyset_id)
                    .where(t.keysets.c.name == keyset)
                    .order_by(t.keys.c.id)
                ).all()
            )
    finally:
        engine.dispose()


def live_refs(url: str, keyset: str, custody: str | None = None) -> set[str]:
    """The backend refs of the set's keys that are not expired or revoked (in ``custody``)."""
    return {
        r.custody_ref
        for r in rows(url, keyset)
        if r.state not in GONE and r.custody_ref and custody in (None, r.custody)
    }


def pending_destroys(url: str, keyset: str) -> list[str]:
    """The kids of expired or revoked keys whose backend key is not destroyed yet."""
    return [r.kid for r in rows(url, keyset) if r.state in GONE and r.custody_ref]


def verify_both(issuer: Issuer, name: str, token: str, clock: Clock) -> dict[str, Any]:
    """Verify ``token`` with keywell and with PyJWT against the set's published JWKS."""
    published = JWKSet.from_json(issuer.jwks(name).body)
    claims = dict(
        jwt.decode(token, published, issuer=ISS, audience=None, now=clock.now.timestamp())
    )
    header = pyjwt.get_unverified_header(token)
    entry = next(k for k in published.to_dict()["keys"] if k["kid"] == header["kid"])
    key = pyjwt.PyJWK.from_dict(entry, algorithm=header["alg"]).key
    theirs = pyjwt.decode(
        token,
        key=key,
        algorithms=[header["alg"]],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert theirs == claims
    return claims


def credential_texts(uri: str) -> list[str]:
    """The secrets a custody URI points at (file contents, AWS secret keys in use)."""
    spec = parse_custody(uri)
    found: list[str] = []
    for name, value in spec.query.items():
        source = value if name == "pin-source" else f"file:{value}" if name == "token-file" else ""
        kind, _, where = source.partition(":")
        if kind == "file" and Path(unquote(where)).is_file():
            found.append(Path(unquote(where)).read_text().strip())
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(name):
            found.append(os.environ[name])
    creds = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    if creds and Path(creds).is_file():
        for line in Path(creds).read_text().splitlines():
            key, eq, value = line.partition("=")
            if eq and key.strip() in ("aws_secret_access_key", "aws_session_token"):
                found.append(value.strip())
    return [f for f in found if len(f) >= 4]
