"""Settings of the billing service, read from CP_* environment variables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing_service.domain.invoice import InvoiceTerms
from billing_service.domain.tax import TaxTable
from cpshared.settings import ENV_PREFIX, ServiceSettings


class BillingRules(BaseSettings):
    """How invoices are made: the seller's country and tax table, prices' included VAT, terms."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    billing_seller_country: str = Field(
        default="DE", pattern=r"^[A-Z]{2}$", description="The seller's country (ISO 3166-1 alpha-2)."
    )
    billing_tax_rates_file: str = Field(
        default="",
        description='JSON object of EU VAT rates in percent, e.g. {"DE": "19", "AT": "20"}; empty: the built-in table.',
    )
    billing_included_tax_rate: Decimal = Field(
        default=Decimal(19),
        ge=0,
        lt=100,
        description="VAT included in the prices of usage events (compute's prices are gross); 0 if they are net.",
    )
    billing_payment_terms_days: int = Field(default=14, ge=0, le=365, description="Days from issue to due date.")
    billing_currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="The currency the platform prices and invoices in (ISO 4217); credits are granted in it.",
    )
    billing_seller_name: str = Field(default="Cloud Platform GmbH", description="The seller's name on invoices.")
    billing_seller_address: str = Field(
        default="Industriestr. 25, 91710 Gunzenhausen, Germany",
        description="The seller's postal address on invoices (one line).",
    )
    billing_seller_vat_id: str = Field(default="DE000000000", description="The seller's VAT id on invoices.")

    def tax_table(self) -> TaxTable:
        if self.billing_tax_rates_file:
            return TaxTable.from_file(Path(self.billing_tax_rates_file), self.billing_seller_country)
        return TaxTable(seller_country=self.billing_seller_country)

    def invoice_terms(self) -> InvoiceTerms:
        """The rules an invoice is made by (loads the tax table: a file that does not load stops here)."""
        return InvoiceTerms(self.tax_table(), self.billing_included_tax_rate, self.billing_payment_terms_days)


class ScheduleSettings(BaseSettings):
    """When billing invoices and chases on its own (the keeper thread of the gRPC server)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    billing_cycle_day: int = Field(
        default=1,
        ge=1,
        le=31,
        description="Day of the month the previous month is invoiced, until identity's billing_cycle_day setting "
        "changes (billing then follows it).",
    )
    billing_suspension_grace_days: int = Field(
        default=14, ge=0, le=365, description="Days an invoice may stay overdue before a suspension is requested."
    )
    billing_keeper_interval_seconds: float = Field(
        default=300, gt=0, description="Seconds between the keeper's rounds."
    )
    billing_keeper_enabled: bool = Field(default=True, description="Run the schedule in the gRPC server process.")


class RetentionSettings(BaseSettings):
    """How long billed usage records are kept (the retention keeper of the gRPC server)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    usage_retention_days: int = Field(
        default=90,
        ge=1,
        le=3660,
        description="Days after the end of an invoiced period that its billed usage records are kept; older "
        "ones are deleted (the invoices stay).",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="Seconds between two runs of the retention keeper."
    )


class Settings(ServiceSettings, BillingRules, ScheduleSettings, RetentionSettings):
    """Everything the billing service's processes read from the environment."""
