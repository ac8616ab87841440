"""The Vault policy the Transit page documents is enough for keywell, and confines it.

The policy is read from ``docs/custody/transit.md`` itself (its one ``hcl``
block), applied to a real ``bao server -dev`` for a fresh mount, and given
to a token without Vault's ``default`` policy: every operation keywell
performs succeeds with it, and keys keywell did not make stay out of reach.
"""

from __future__ import annotations

import hvac.exceptions
import pytest

from keywell.custody import close_all, open_custody
from keywell.errors import CustodyError
from tests.custody.backend_transit import TransitHandle
from tests.docs.blocks import DOCS, blocks

PAGE = DOCS / "custody" / "transit.md"


def documented_policy(mount: str) -> str:
    """The page's policy, for ``mount`` instead of ``transit``."""
    (policy,) = [b.code for b in blocks(PAGE) if b.lang == "hcl"]
    assert policy.count('path "transit/') == 3
    return policy.replace('path "transit/', f'path "{mount}/')


def test_documented_policy_is_enough(transit_backend: TransitHandle) -> None:
    mount = transit_backend.new_mount()
    token = transit_backend.token_for(documented_policy(mount))
    custody = open_custody(transit_backend.uri(mount, token_file=token))
    assert custody is not None
    custody.check()
    assert custody.refs("svc") == {}
    keys = [custody.generate(alg, keyset="svc") for alg in ("ES256", "PS256", "EdDSA")]
    for key in keys:
        assert key.public.alg is not None
        assert len(custody.signer(key.ref, key.public.alg)(b"header.payload")) >= 64
    assert set(custody.refs("svc")) == {k.ref for k in keys}
    for key in keys:
        custody.destroy(key.ref)
        custody.destroy(key.ref)
    assert custody.refs("svc") == {}
    assert transit_backend.held(custody.uri, "svc") == set()
    close_all()


def test_documented_policy_confines_keywell(transit_backend: TransitHandle) -> None:
    mount = transit_backend.new_mount()
    transit_backend.root.secrets.transit.create_key(
        "other", key_type="ecdsa-p256", mount_point=mount
    )
    token = transit_backend.token_for(documented_policy(mount))
    custody = open_custody(transit_backend.uri(mount, token_file=token))
    assert custody is not None
    with pytest.raises(CustodyError, match="permission denied"):
        custody.signer("other", "ES256")(b"header.payload")
    with pytest.raises(CustodyError, match="permission denied"):
        custody.destroy("other")
    key = custody.generate("ES256", keyset="svc")
    limited = transit_backend.bao.client(token.read_text())
    try:
        for call in (
            lambda: limited.secrets.transit.export_key(key.ref, "signing-key", mount_point=mount),
            lambda: limited.secrets.transit.backup_key(key.ref, mount_point=mount),
            lambda: limited.sys.list_mounted_secrets_engines(),
        ):
            with pytest.raises(hvac.exceptions.Forbidden):
                call()
    finally:
        limited.adapter.close()
    assert transit_backend.root.secrets.transit.read_key("other", mount_point=mount)
    close_all()
