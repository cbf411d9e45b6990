"""Typed settings read from the environment, checked at start-up.

Every process builds one settings object. A missing or malformed variable stops the process
before it does anything, with a message naming the variable and what is wrong with it.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CP_"


class CommonSettings(BaseSettings):
    """What every process of the platform needs, whatever its service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    service_name: str = Field(min_length=1, description="Name of the service this process belongs to.")
    environment: Literal["local", "test", "staging", "production"] = "local"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    metrics_port: int = Field(ge=0, le=65535, description="Port of the Prometheus /metrics endpoint; 0 disables it.")
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address /metrics listens on: loopback locally, 0.0.0.0 in a container so it can be scraped.",
    )


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = Field(
        min_length=1,
        pattern=r"^mysql\+pymysql://",
        description="SQLAlchemy URL of this service's own database, mysql+pymysql://user:pw@host:port/db",
    )
    database_pool_size: int = Field(default=5, ge=1, le=100)


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(min_length=1, description="Kafka bootstrap servers, host:port[,host:port]")


class GrpcServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(ge=1, le=65535)
    grpc_grace_seconds: float = Field(default=5.0, ge=0)
    principal_verify_key_file: str = Field(
        default="",
        description=(
            "PEM file of the identity service's Ed25519 public key: every call but health, reflection and "
            "ServiceInfo must carry a principal assertion it signed. Empty: unauthenticated mode, nothing checked."
        ),
    )
    principal_service_keys: str = Field(
        default="",
        description=(
            "The services whose own assertions (kind service) are accepted, as a comma-separated list of "
            "name=path of that service's Ed25519 public key (PEM), e.g. gateway=/keys/gateway.pub. "
            "Read only when CP_PRINCIPAL_VERIFY_KEY_FILE is set."
        ),
    )


class ServiceSettings(CommonSettings, DatabaseSettings, KafkaSettings, GrpcServerSettings):
    """The settings of a domain service's gRPC process."""


S = TypeVar("S", bound=BaseSettings)


class SettingsError(SystemExit):
    pass


def describe_validation_error(cls: type[BaseSettings], exc: ValidationError) -> str:
    prefix = str(cls.model_config.get("env_prefix") or "")
    lines = [f"invalid configuration for {cls.__name__}:"]
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        variable = (prefix + field).upper()
        if err["type"] == "missing":
            lines.append(f"  {variable} is not set")
        else:
            lines.append(f"  {variable}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_settings(cls: type[S]) -> S:
    """Build ``cls`` from the environment or stop the process with a message naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        message = describe_validation_error(cls, exc)
        print(message, file=sys.stderr)
        raise SettingsError(2) from exc


def env_variables(cls: type[BaseSettings]) -> set[str]:
    """The environment variable names ``cls`` reads (used to check deployment files)."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    return {(prefix + name).upper() for name in cls.model_fields}


def required_env_variables(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix") or "")
    return {(prefix + name).upper() for name, f in cls.model_fields.items() if f.is_required()}
