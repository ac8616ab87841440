"""The admin API's response models and the CLI's ``--json`` share one wire form.

``keywell.lifecycle.wire`` writes it once; the pydantic models validate from
it. Serialised by the API, each model must give back exactly the dict the CLI
prints (plus the members only the API has: ``jwks_uri``, ``committed_at``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from keywell.issuer import Issuer
from keywell.issuer.admin_tokens import admin_token_dict
from keywell.lifecycle import wire
from keywell.server.admin_tokens import AdminTokenOut
from keywell.server.bodies import PolicyModel
from keywell.server.models import AuditOut, KeyOut, KeySetOut, RotateOut, TransitionOut

COMMITTED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_every_model_serialises_to_the_wire_dict(issuer: Issuer) -> None:
    issuer.create_admin_token(["read"], name="wire")
    rotation = issuer.rotate("default", emergency=True)
    info = issuer.get_keyset("default")
    uri = "http://keywell.test/.well-known/jwks.json"
    assert KeySetOut.of(info, uri).model_dump(mode="json") == {
        **wire.keyset_dict(info),
        "jwks_uri": uri,
    }
    assert PolicyModel.of(info.policy).model_dump(mode="json") == wire.policy_dict(info.policy)
    keys = issuer.keys("default")
    assert len(keys) == 3
    for key in keys:
        assert KeyOut.of(key).model_dump(mode="json") == wire.key_dict(key)
    assert rotation.transitions
    for t in rotation.transitions:
        assert TransitionOut.of(t).model_dump(mode="json") == {
            **wire.transition_dict(t),
            "committed_at": None,
        }
    dumped = RotateOut.of(rotation, COMMITTED).model_dump(mode="json")
    assert dumped["committed_at"] == "2026-01-02T03:04:05.678901Z"
    assert all(t.pop("committed_at") == dumped["committed_at"] for t in dumped["transitions"])
    assert {**dumped, "committed_at": None} == {
        **wire.rotation_dict(rotation),
        "committed_at": None,
    }
    events = issuer.history(limit=20)
    assert len(events) >= 5
    for e in events:
        assert AuditOut.of(e).model_dump(mode="json") == wire.audit_dict(e)
    for token in issuer.list_admin_tokens():
        assert AdminTokenOut.of(token).model_dump(mode="json") == admin_token_dict(token)
