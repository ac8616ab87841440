"""The IAM policy of docs/custody/awskms.md, applied to moto's IAM: enough for keywell, each
allowed action needed, and the deny honoured.

Moto's IAM matches actions but not conditions or key ARNs (a statement's
``Condition`` fails for want of request values, a ``Resource`` other than
``*`` never matches), so the page's statements are applied with their
``Condition`` dropped and ``Resource: "*"``: this checks the action lists, not
the tag conditions. Moto also authorises ``CreateKey`` with tags without
``kms:TagResource``, which AWS requires, so that action is not checked here.
Moto's refusals read ``403`` (moto finding 5), so a refused
``ListResourceTags`` fails ``refs`` here; AWS's ``AccessDeniedException`` is
read as "not one of keywell's keys" instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keywell.custody import parse_custody
from keywell.custody.awskms import AWSKMSCustody
from keywell.errors import CustodyError
from tests.custody.backend_awskms import AWSKMSHandle

PAGE = Path(__file__).resolve().parents[2] / "docs" / "custody" / "awskms.md"
NOT_CHECKED_BY_MOTO = {"kms:TagResource"}


def page_policy() -> dict[str, Any]:
    """The first ```json block of the page."""
    match = re.search(r"```json\n(.*?)\n```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, "the AWS KMS page shows its IAM policy as a json block"
    policy: dict[str, Any] = json.loads(match.group(1))
    return policy


def as_moto_sees_it(policy: dict[str, Any], without: str | None = None) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions = [a for a in actions if a != without]
        if actions:
            statements.append({"Effect": statement["Effect"], "Action": actions, "Resource": "*"})
    return {"Version": policy["Version"], "Statement": statements}


def allowed_actions() -> list[str]:
    return sorted(
        action
        for statement in page_policy()["Statement"]
        if statement["Effect"] == "Allow"
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    )


@pytest.fixture
def as_user(awskms_backend: AWSKMSHandle) -> Iterator[Any]:
    """Open a custody as a new IAM user holding a policy (keywell-0's account, fresh region)."""
    opened: list[AWSKMSCustody] = []
    regions = iter(["sa-east-1", "ca-central-1", "eu-north-1", "me-south-1", "af-south-1"])

    def open_(policy: dict[str, Any]) -> tuple[AWSKMSCustody, AWSKMSCustody, str]:
        moto = awskms_backend.moto
        region = next(regions)
        mine = moto.uri(region, profile=moto.add_user(policy), timeout=15)
        full = moto.uri(region, profile=moto.accounts[0], timeout=15)
        pair = tuple(AWSKMSCustody.from_spec(parse_custody(u)) for u in (mine, full))
        opened.extend(pair)
        return pair[0], pair[1], mine

    yield open_
    for custody in opened:
        custody.close()


def run_keywell(custody: AWSKMSCustody, keyset: str) -> None:
    """Every call keywell makes: readiness, create, sign, list, destroy."""
    custody.check()
    key = custody.generate("ES256", keyset=keyset)
    assert len(custody.signer(key.ref, "ES256")(b"a.b")) == 64
    assert list(custody.refs(keyset)) == [key.ref]
    custody.destroy(key.ref)
    assert custody.refs(keyset) == {}


def test_the_documented_policy_is_enough_and_denies_cancelling_a_deletion(
    as_user: Any, awskms_backend: AWSKMSHandle
) -> None:
    custody, _, uri = as_user(as_moto_sees_it(page_policy()))
    run_keywell(custody, "docs-policy")
    key = custody.generate("ES256", keyset="docs-policy")
    custody.destroy(key.ref)
    client = awskms_backend.client(uri)  # boto3's own client, with this user's credentials
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.cancel_key_deletion(KeyId=key.ref)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.parametrize("action", [a for a in allowed_actions() if a not in NOT_CHECKED_BY_MOTO])
def test_each_documented_action_is_needed(as_user: Any, action: str) -> None:
    custody, full, _ = as_user(as_moto_sees_it(page_policy(), without=action))
    keyset = "needed-" + action.split(":")[1].lower()
    with pytest.raises(CustodyError) as caught:
        run_keywell(custody, keyset)
    assert "HTTP 403" in str(caught.value)
    for ref in full.refs(keyset):  # what the half-allowed user made, cleaned up
        full.destroy(ref)
