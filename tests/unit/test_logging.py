from __future__ import annotations

import json
import logging

import pytest

from cpshared.context import correlation_id_var
from cpshared.logging import configure_logging, get_logger


def test_log_lines_are_json_and_carry_the_correlation_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("compute", "INFO", json=True)
    token = correlation_id_var.set("corr-9")
    try:
        get_logger("t").info("server_created", server_id=7)
        logging.getLogger("stdlib").warning("plain %s", "message")
    finally:
        correlation_id_var.reset(token)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    structured, plain = lines[-2], lines[-1]
    assert structured["event"] == "server_created" and structured["server_id"] == 7
    assert structured["correlation_id"] == "corr-9" and structured["service"] == "compute"
    assert plain["event"] == "plain message" and plain["correlation_id"] == "corr-9"
