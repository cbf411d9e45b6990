"""One validator for every human-facing string of a request (gateway_service.api.common): no
control characters, escape sequences or bidirectional overrides; Hetzner's label count."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cpshared.errors import InvalidInput
from gateway_service.api.auth import SignUpBody
from gateway_service.api.common import multiline_text, plain_text
from gateway_service.api.me import ProfilePatch
from hetzner_conventions.labels import MAX_LABELS, check_hostname, check_labels

DIRTY = ["nul\x00byte", "\x1b[31mred\x1b[0m", "evil\u202etxt.exe", "line1\r\nX-Injected: 1", "tab\there", "\x85next"]


@pytest.mark.parametrize("value", DIRTY)
def test_one_line_text_refuses_control_characters_line_breaks_and_bidi_overrides(value: str) -> None:
    with pytest.raises(ValueError, match="one line of text"):
        plain_text(value)


def test_ordinary_text_of_any_script_passes() -> None:
    for value in ("Zoë Ångström", "北京 Cloud", "O'Brien & Sons, Ltd.", "emoji 🚀", ""):
        assert plain_text(value) == value
    assert multiline_text("first line\nsecond\tline\r\n") == "first line\nsecond\tline\r\n"
    with pytest.raises(ValueError, match="control characters"):
        multiline_text("a\x00b")


def test_the_models_of_requests_use_it() -> None:
    with pytest.raises(ValidationError):
        SignUpBody(name="Ada\u202e", email="ada@example.com", password="a long password")
    with pytest.raises(ValidationError):
        ProfilePatch(city="Berlin\r\nBcc: x@example.com")
    assert ProfilePatch(city="Berlin").city == "Berlin"


def test_a_resource_carries_at_most_max_labels_and_dns_names_are_hostnames() -> None:
    check_labels({f"k{i}": "v" for i in range(MAX_LABELS)})
    with pytest.raises(InvalidInput, match=f"at most {MAX_LABELS} labels"):
        check_labels({f"k{i}": "v" for i in range(MAX_LABELS + 1)})
    for bad in ("line1\r\nX-Injected: 1", "../../etc/passwd", "a b.example.com"):
        with pytest.raises(InvalidInput):
            check_hostname("dns_ptr", bad)


def test_a_quota_is_set_only_for_a_resource_type_that_has_one() -> None:
    from gateway_service.api.admin import NewQuotaLimit

    assert (
        NewQuotaLimit.model_validate({"user_id": 1, "resource_type": "volume_gb", "limit": 5}).resource_type
        == "volume_gb"
    )
    with pytest.raises(ValidationError):
        NewQuotaLimit.model_validate({"user_id": 1, "resource_type": "zz_fuzz", "limit": 5})
