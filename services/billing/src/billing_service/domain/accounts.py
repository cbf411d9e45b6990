"""Who is billed: an account (a user's own, or an organization's) and what billing knows of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    account_type: str  # "user" or "organization"
    account_id: int

    @classmethod
    def of(cls, user_id: int, organization_id: int | None) -> Account:
        """The account a usage record, credit or payment method belongs to."""
        if organization_id:
            return cls("organization", int(organization_id))
        return cls("user", int(user_id))

    @property
    def organization_id(self) -> int | None:
        return self.account_id if self.account_type == "organization" else None

    def sort_key(self) -> tuple[str, int]:
        return (self.account_type, self.account_id)

    def __str__(self) -> str:
        return f"{self.account_type} {self.account_id}"


@dataclass(frozen=True)
class BillingProfile:
    """An account as identity's events told billing (``billing_accounts``): who owns it, where it
    is (the tax follows the country and VAT id), and the name and address its invoices carry."""

    account: Account
    owner_user_id: int | None = None
    country: str | None = None
    tax_id: str | None = None
    company_name: str | None = None
    billing_email: str | None = None
    status: str = "active"
