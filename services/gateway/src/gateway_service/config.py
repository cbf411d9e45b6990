"""Settings of the gateway, read from CP_* environment variables."""

from __future__ import annotations

from pydantic import Field

from cpshared.settings import CommonSettings, DatabaseSettings

BACKENDS = ("identity", "compute", "network", "storage", "billing", "monitoring", "support", "audit")


class Settings(CommonSettings, DatabaseSettings):
    """The gateway's own database holds only operational state (idempotency keys, rate limits, console tickets);
    from Kafka it reads identity's events, which drop cached principals (auth/invalidation.py)."""

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    identity_grpc_addr: str = Field(min_length=3)
    compute_grpc_addr: str = Field(min_length=3)
    network_grpc_addr: str = Field(min_length=3)
    storage_grpc_addr: str = Field(min_length=3)
    billing_grpc_addr: str = Field(min_length=3)
    monitoring_grpc_addr: str = Field(min_length=3)
    support_grpc_addr: str = Field(min_length=3)
    audit_grpc_addr: str = Field(min_length=3)
    kafka_bootstrap: str = Field(
        default="",
        description=(
            "Kafka bootstrap servers, host:port[,host:port]: the gateway follows identity's events there and "
            "drops cached principals they change. Empty: no events; cached principals live one second."
        ),
    )
    principal_service_key_file: str = Field(
        default="",
        description=(
            "PEM file of the gateway's own Ed25519 private key: calls made for no user (asking identity who "
            "holds an API key) carry the gateway's service principal signed with it. Empty: they carry none, "
            "which only servers in unauthenticated mode accept."
        ),
    )

    session_rate_limit: int = Field(
        default=3600,
        ge=1,
        description="Requests per hour of a signed-in user (all its sessions together); API keys have their own.",
    )

    credential_address_burst: int = Field(
        default=20,
        ge=1,
        description=(
            "Credential requests (sign-up, verification, sign-in, refresh, password change, two-factor codes) one "
            "client address may make at once; failed API-key authentications have a budget of this size too."
        ),
    )
    credential_address_per_minute: float = Field(
        default=20.0, gt=0, description="How fast an address's credential budgets refill, per minute."
    )
    credential_global_burst: int = Field(
        default=100, ge=1, description="Credential requests this replica takes at once, from every address together."
    )
    credential_global_per_second: float = Field(
        default=20.0, gt=0, description="How fast the replica's overall credential budget refills, per second."
    )
    credential_concurrency: int = Field(
        default=8,
        ge=1,
        description="Credential calls this replica has in flight to identity at most; one more is answered 429.",
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Comma-separated addresses (or CIDR networks) of the reverse proxies in front of the gateway: only "
            "from them is X-Forwarded-For taken as the client's address (rate limits, sign-in throttles, audit). "
            "Empty: the peer's address always."
        ),
    )

    max_request_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="The largest request body in bytes (10 MiB); a larger one is answered 413 request_too_large.",
    )

    request_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds a request body may take to arrive whole; a slower one is answered 408 request_timeout.",
    )

    def backend_addresses(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_grpc_addr")) for name in BACKENDS}
