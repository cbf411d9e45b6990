"""Settings come from the environment and a bad value stops start-up naming the variable."""

from __future__ import annotations

import pytest

from cpshared.settings import ServiceSettings, SettingsError, env_variables, load_settings, required_env_variables

GOOD = {
    "CP_SERVICE_NAME": "compute",
    "CP_METRICS_PORT": "9102",
    "CP_DATABASE_URL": "mysql+pymysql://cp_compute:pw@127.0.0.1:3306/cp_compute",
    "CP_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "CP_GRPC_PORT": "50052",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in env_variables(ServiceSettings):
        monkeypatch.delenv(name, raising=False)
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_settings_are_read_from_cp_variables(environment: pytest.MonkeyPatch) -> None:
    settings = load_settings(ServiceSettings)
    assert settings.grpc_port == 50052
    assert settings.service_name == "compute"
    assert settings.log_level == "INFO"


def test_a_missing_variable_stops_start_up_and_is_named(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.delenv("CP_DATABASE_URL")
    with pytest.raises(SettingsError):
        load_settings(ServiceSettings)
    assert "CP_DATABASE_URL is not set" in capsys.readouterr().err


def test_a_malformed_value_stops_start_up_and_says_what_is_wrong(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("CP_GRPC_PORT", "seventy")
    environment.setenv("CP_DATABASE_URL", "postgres://somewhere")
    with pytest.raises(SettingsError):
        load_settings(ServiceSettings)
    err = capsys.readouterr().err
    assert "CP_GRPC_PORT" in err and "'seventy'" in err
    assert "CP_DATABASE_URL" in err


def test_required_variables_are_those_without_defaults() -> None:
    assert required_env_variables(ServiceSettings) == set(GOOD)
    assert "CP_LOG_LEVEL" in env_variables(ServiceSettings) - required_env_variables(ServiceSettings)
