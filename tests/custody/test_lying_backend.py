"""A backend whose public key or signatures do not match: keywell neither publishes nor signs.

The shape checks of a backend (PEM of the right curve, a signature of the
right length) cannot tell a key that is not the one signing. keywell proves
every key it makes (a probe signed in the backend and verified under the
public key it returned) before a row names it, and verifies a signer's first
signature under the published key, so a lying backend is a typed
:class:`~keywell.errors.CustodyError` and never a published key or a token no
relying party can verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from keywell.custody import close_all
from keywell.errors import CustodyError, KeySetNotFoundError
from keywell.issuer import Issuer
from tests.custody.backend_transit import TransitHandle
from tests.custody.contract import DAY, ISS, POLICY, Clock, live_refs, rows
from tests.custody.lying_transit import LyingTransit


@pytest.fixture
def lying(transit_backend: TransitHandle) -> Iterator[tuple[LyingTransit, str, TransitHandle]]:
    proxy = LyingTransit(transit_backend.bao.url)
    mount = transit_backend.new_mount()
    uri = (
        f"transit://127.0.0.1:{proxy.port}/{mount}"
        f"?token-file={transit_backend.token_file}&timeout=15"
    )
    yield proxy, uri, transit_backend
    close_all()
    proxy.close()


def test_a_key_whose_public_half_is_not_the_signing_one_is_never_created(
    lying: tuple[LyingTransit, str, TransitHandle], issuer: Issuer
) -> None:
    proxy, uri, handle = lying
    proxy.lie = "public"
    with pytest.raises(CustodyError) as caught:
        issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=uri)
    assert (caught.value.backend, caught.value.operation) == ("transit", "generate")
    with pytest.raises(KeySetNotFoundError):
        issuer.keys("api")
    assert handle.held(uri, "api") == set()  # the unproven keys were destroyed


def test_a_rotation_through_a_lying_backend_changes_nothing_and_recovers(
    lying: tuple[LyingTransit, str, TransitHandle], issuer: Issuer, url: str, clock: Clock
) -> None:
    proxy, uri, handle = lying
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=uri)
    before = rows(url, "api")
    proxy.lie = "public"
    clock.advance(DAY)
    with pytest.raises(CustodyError):
        issuer.tick()
    assert rows(url, "api") == before
    proxy.lie = None
    issuer.tick()
    assert issuer.reconcile_custody("api", grace=timedelta(0)) == 0
    assert handle.held(uri, "api") == live_refs(url, "api")


def test_a_signature_that_does_not_verify_is_never_returned(
    lying: tuple[LyingTransit, str, TransitHandle], issuer: Issuer
) -> None:
    proxy, uri, _ = lying
    issuer.create_keyset("api", issuer=ISS, policy=POLICY, custody=uri)
    proxy.lie = "signature"
    with pytest.raises(CustodyError) as caught:
        issuer.sign("api", {"sub": "x"})
    assert (caught.value.backend, caught.value.operation) == ("transit", "sign")
