from __future__ import annotations

from starlette.datastructures import Headers

from gateway_service.idempotency.middleware import anonymous_scope
from gateway_service.idempotency.store import request_fingerprint


def test_the_fingerprint_changes_with_method_path_or_body() -> None:
    base = request_fingerprint("POST", "/v1/servers", b'{"name": "a"}')
    assert base == request_fingerprint("post", "/v1/servers", b'{"name": "a"}')
    assert base != request_fingerprint("POST", "/v1/volumes", b'{"name": "a"}')
    assert base != request_fingerprint("POST", "/v1/servers", b'{"name": "b"}')
    assert request_fingerprint("POST", "/a", b"b") != request_fingerprint("POST", "/ab", b"")


def test_the_caller_scope_is_a_hash_of_the_authorization_header_never_the_token() -> None:
    scope = anonymous_scope(Headers({"authorization": "Bearer secret-token"}))
    assert len(scope) == 64
    assert "secret" not in scope
    assert scope != anonymous_scope(Headers({"authorization": "Bearer other"}))
    assert anonymous_scope(Headers({})) == "anonymous"
