"""VAT by the customer's country, from a configurable table of rates.

* An EU business with a VAT id outside the seller's country: 0 %, reverse charge (the
  customer accounts for the VAT; the invoice says so).
* Any other customer in the EU: the rate of the customer's country (one-stop shop for
  consumers; a business in the seller's country pays the seller's rate, which is the same).
* A customer outside the EU: 0 %, the place of supply is outside the EU.
* A country billing does not know yet (identity has not told it): the seller's rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

EU_STANDARD_RATES: Mapping[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "AT": "20",
        "BE": "21",
        "BG": "20",
        "CY": "19",
        "CZ": "21",
        "DE": "19",
        "DK": "25",
        "EE": "24",
        "ES": "21",
        "FI": "25.5",
        "FR": "20",
        "GR": "24",
        "HR": "25",
        "HU": "27",
        "IE": "23",
        "IT": "22",
        "LT": "21",
        "LU": "17",
        "LV": "21",
        "MT": "18",
        "NL": "21",
        "PL": "23",
        "PT": "23",
        "RO": "21",
        "SE": "25",
        "SI": "22",
        "SK": "23",
    }.items()
}
"""Standard VAT rates of the EU member states (percent), the default table."""

REVERSE_CHARGE_NOTE = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)."
OUTSIDE_EU_NOTE = "Not subject to EU VAT: place of supply outside the EU."


@dataclass(frozen=True)
class TaxDecision:
    rate: Decimal
    note: str = ""
    reverse_charge: bool = False


@dataclass(frozen=True)
class TaxTable:
    seller_country: str = "DE"
    eu_rates: Mapping[str, Decimal] = field(default_factory=lambda: dict(EU_STANDARD_RATES))

    @classmethod
    def from_file(cls, path: Path, seller_country: str) -> TaxTable:
        """A JSON object ``{"AT": "20", ...}`` of EU member states and their rates (percent)."""
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected an object of country codes to rates")
        rates = {str(code).upper(): Decimal(str(rate)) for code, rate in raw.items()}
        for code, rate in rates.items():
            if len(code) != 2 or not Decimal(0) <= rate < Decimal(100):
                raise ValueError(f"{path}: {code}: a rate is a percentage below 100 for a two-letter country")
        return cls(seller_country=seller_country.upper(), eu_rates=rates)

    def __post_init__(self) -> None:
        if self.seller_country not in self.eu_rates:
            raise ValueError(f"the seller's country {self.seller_country} is not in the tax table")

    def decide(self, country: str | None, tax_id: str | None) -> TaxDecision:
        country = (country or "").upper() or self.seller_country
        if country in self.eu_rates:
            if tax_id and country != self.seller_country:
                return TaxDecision(Decimal("0.00"), REVERSE_CHARGE_NOTE, reverse_charge=True)
            return TaxDecision(self.eu_rates[country])
        return TaxDecision(Decimal("0.00"), OUTSIDE_EU_NOTE)
