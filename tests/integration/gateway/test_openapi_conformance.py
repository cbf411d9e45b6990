"""schemathesis against /v1/openapi.json: generated requests for every operation of the public
API, with a bounded number of examples each, must never get a 5xx and never an answer that
contradicts the document (status codes, content types, headers and bodies as documented).

The calls carry an admin's API key with every scope and a budget no run exhausts, so they
reach the handlers rather than stopping at authentication; ids the generator invents mostly
answer 404, which the document lists for every operation.

Every check schemathesis has runs but ``positive_data_acceptance``: it expects a 2xx for any
request the document's schemas allow, but some rules are not schemas (a ``label_selector``'s
grammar, an id that does not exist, a slug that is taken), and their 400/404/409 answers are
documented ones, not contradictions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from billing_service.config import BillingRules
from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.migrations import migrations_dir, upgrade
from gateway_service.app import create_app
from gateway_service.config import BACKENDS, Settings
from identity_service.domain import commands
from identity_service.domain.model import UserRole, UserStatus
from identity_service.service_layer import api_keys, users
from tests.integration.audit.conftest import insert_entry
from tests.integration.billing.support import OCTOBER, apply, hours, run_invoices, user_created
from tests.integration.live import LivePlatform, live_platform, network_worker_running

MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_st_id") as identity_url,
        mariadb.scratch_database("cp_test_st_gw") as gateway_url,
        mariadb.scratch_database("cp_test_st_au") as audit_url,
        mariadb.scratch_database("cp_test_st_cp") as compute_url,
        mariadb.scratch_database("cp_test_st_bi") as billing_url,
        mariadb.scratch_database("cp_test_st_st") as storage_url,
        mariadb.scratch_database("cp_test_st_su") as support_url,
        mariadb.scratch_database("cp_test_st_nw") as network_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("audit", migrations_dir("audit"), audit_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        upgrade("billing", migrations_dir("billing"), billing_url)
        upgrade("storage", migrations_dir("storage"), storage_url)
        upgrade("support", migrations_dir("support"), support_url)
        upgrade("network", migrations_dir("network"), network_url)
        # Compute with its catalog synced from a simulator: the catalog answers hold real rows;
        # network with its worker, so floating IPs are made upstream.
        with (
            live_platform(
                identity_url,
                gateway_url,
                audit_url=audit_url,
                compute_url=compute_url,
                billing_url=billing_url,
                storage_url=storage_url,
                support_url=support_url,
                network_url=network_url,
            ) as live,
            network_worker_running(live),
        ):
            assert live.audit is not None
            # A few audit entries, so the audit log's answers are checked with rows in them.
            insert_entry(live.audit.engine, user_id=1, organization_id=1, new_values={"name": "ci"}, request_id="r-1")
            insert_entry(live.audit.engine, action="request", response_code=200, duration_ms=3, request_id="r-1")
            # Invoices (billing staff see every account's), so their answers are checked with rows.
            assert live.billing is not None
            apply(live.billing, [user_created(1), *hours(1, OCTOBER, 3, user_id=1)])
            run_invoices(live.billing, OCTOBER.date(), BillingRules())
            yield live


@pytest.fixture(scope="module")
def admin_token(platform: LivePlatform) -> str:
    admin = users.create_user(
        commands.CreateUser(
            name="Schema Admin",
            email="schema-admin@example.com",
            password="a long enough password",
            role=UserRole.ADMIN,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(
            user_id=admin.id, name="schemathesis", scopes=("*:read", "*:write"), rate_limit=1_000_000
        ),
        platform.identity.uow(),
    )
    return secret


def _document() -> dict[str, Any]:
    """The gateway's OpenAPI document, as the app builds it (no server or database needed)."""
    settings = Settings.model_validate(
        {
            "service_name": "gateway",
            "metrics_port": 0,
            "database_url": "mysql+pymysql://nobody@127.0.0.1:9/none",
            **{f"{name}_grpc_addr": "127.0.0.1:9" for name in BACKENDS},
        }
    )
    return create_app(settings, sa.create_engine(settings.database_url)).openapi()


schema = schemathesis.openapi.from_dict(_document())


def test_the_served_document_is_the_one_tested(platform: LivePlatform) -> None:
    assert httpx.get(f"{platform.gateway}/v1/openapi.json", timeout=10).json() == _document()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_no_answer_contradicts_the_document(
    case: schemathesis.Case[Any], platform: LivePlatform, admin_token: str
) -> None:
    case.call_and_validate(
        base_url=platform.gateway,
        headers={"Authorization": f"Bearer {admin_token}"},
        excluded_checks=[positive_data_acceptance],
    )
