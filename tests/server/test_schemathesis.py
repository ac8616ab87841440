"""Schemathesis against the admin OpenAPI schema: no 5xx, every response matches the schema.

The operations are driven with Hypothesis directly (``APIOperation.as_strategy``)
rather than through Schemathesis' pytest fixture loader, which does not run
under pytest 9; the checks are Schemathesis' own (``call_and_validate``), minus
``positive_data_acceptance``: a policy's cross-field rules (``jwks_max_age <=
prepublish <= rotation_period``) cannot be written in JSON Schema, so a
schema-valid policy may rightly get a 422 naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from keywell.issuer import Issuer
from keywell.server import KeywellServer, ServerConfig, create_app
from keywell.server.guard import OPENAPI_PATH, ROUTE_SCOPES
from keywell.store.kek import KEKRing

EXAMPLES = 30
LABELS = [
    "GET /admin/v1/audit",
    "GET /admin/v1/keysets",
    "GET /admin/v1/keysets/{name}",
    "GET /admin/v1/keysets/{name}/keys",
    "POST /admin/v1/keysets",
    "POST /admin/v1/keysets/{name}/keys/{kid}/revoke",
    "POST /admin/v1/keysets/{name}/rotate",
    "POST /admin/v1/keysets/{name}/tokens",
    "PUT /admin/v1/keysets/{name}/policy",
    "PUT /admin/v1/keysets/{name}/custody",
    "GET /admin/v1/admin-tokens",
    "POST /admin/v1/admin-tokens",
    # last: it may revoke the token the other operations use
    "POST /admin/v1/admin-tokens/{token_id}/revoke",
]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KeywellServer, str]]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "kw.db"
    issuer = Issuer(f"sqlite:///{path}", keks=KEKRing.generate(), auto_upgrade=True)
    issuer.create_keyset("default", issuer="https://issuer.test")
    secret = issuer.create_admin_token(["admin"], name="schemathesis")
    yield create_app(issuer, ServerConfig(public_url="http://keywell.test")), secret
    issuer.close()


def operations(app: KeywellServer) -> dict[str, Any]:
    schema = schemathesis.openapi.from_asgi(OPENAPI_PATH, app)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


def test_every_admin_route_is_exercised(deployment: tuple[KeywellServer, str]) -> None:
    labels = set(operations(deployment[0]))
    assert labels == {f"{m} {p}" for m, p in ROUTE_SCOPES} == set(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_admin_operation_conforms_to_its_schema(
    label: str, deployment: tuple[KeywellServer, str]
) -> None:
    app, secret = deployment
    operation = operations(app)[label]
    headers = {"Authorization": f"Bearer {secret}"}
    calls = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance]
        )
        calls.append(response.status_code)

    run()
    assert calls
    assert all(status < 500 for status in calls)
