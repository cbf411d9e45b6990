"""HTTP hygiene of the gateway as served (its own uvicorn configuration): security headers and
``Cache-Control: no-store`` on every answer (secret-bearing ones first), no ``server`` banner,
405 with ``Allow`` and the error object, and a request body past the cap answered 413 in the
error format, whether it announces its length or not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway_service.entrypoints.http_server import server_config
from identity_service.domain import commands
from identity_service.domain.model import UserStatus
from identity_service.service_layer import api_keys, users
from tests.integration.live import LivePlatform, live_platform

CAP = 10 * 1024 * 1024  # the default of CP_MAX_REQUEST_BODY_BYTES


@pytest.fixture
def platform(identity_url: str, gateway_url: str) -> Iterator[LivePlatform]:
    with live_platform(identity_url, gateway_url) as live:
        yield live


@pytest.fixture
def secret(platform: LivePlatform) -> str:
    user = users.create_user(
        commands.CreateUser(
            name="Hygiene", email="hygiene@example.com", password="a long enough password", status=UserStatus.ACTIVE
        ),
        platform.identity.uow(),
    )
    _, key = api_keys.create_api_key(
        commands.CreateApiKey(user_id=user.id, name="k", scopes=("api_keys:read", "api_keys:write"), rate_limit=0),
        platform.identity.uow(),
    )
    return key


def assert_hygienic(answer: httpx.Response) -> None:
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "server" not in answer.headers


def test_the_server_is_configured_without_a_banner() -> None:
    assert server_config(lambda *_: None, "127.0.0.1", 1).server_header is False  # type: ignore[arg-type]


def test_an_answer_carrying_a_secret_is_never_stored(platform: LivePlatform, secret: str) -> None:
    with httpx.Client(base_url=platform.gateway, headers={"Authorization": f"Bearer {secret}"}, timeout=10) as client:
        created = client.post("/v1/api_keys", json={"name": "ci", "scopes": ["api_keys:read"]})
        assert created.status_code == 201, created.text
        assert created.json()["secret"]
        assert_hygienic(created)
        # and every other answer: a list, an error, an unauthenticated one
        assert_hygienic(client.get("/v1/api_keys"))
        assert_hygienic(client.get("/v1/api_keys/9223372036854775807"))
    assert_hygienic(httpx.get(f"{platform.gateway}/v1/api_keys", timeout=10))


def test_a_method_the_path_does_not_answer_is_405_with_allow_and_the_error_object(
    platform: LivePlatform, secret: str
) -> None:
    answer = httpx.patch(f"{platform.gateway}/v1/api_keys", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "POST"}
    assert answer.json()["error"]["code"] == "invalid_input"
    assert_hygienic(answer)


def test_a_body_past_the_cap_is_413_in_the_error_format_and_nothing_is_made(
    platform: LivePlatform, secret: str
) -> None:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = b'{"name": "' + b"x" * CAP + b'", "scopes": ["api_keys:read"]}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: read until past the cap
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    with httpx.Client(base_url=platform.gateway, timeout=30) as client:
        # with an Idempotency-Key too: its middleware reads the body before the route does
        for content, extra in ((body, {}), (chunks(), {}), (chunks(), {"Idempotency-Key": "big-1"})):
            answer = client.post("/v1/api_keys", content=content, headers={**headers, **extra})
            assert answer.status_code == 413, answer.text
            assert answer.json()["error"]["code"] == "request_too_large"
            assert_hygienic(answer)
        # a body just under the cap is read (and refused for what it says, not for its size)
        fits = b'{"name": "' + b"x" * (CAP - 100) + b'", "scopes": ["api_keys:read"]}'
        answer = client.post("/v1/api_keys", content=fits, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_input"
        listed = client.get("/v1/api_keys", headers={"Authorization": f"Bearer {secret}"})
        assert [key["name"] for key in listed.json()["api_keys"]] == ["k"]
