"""The mails of notifications: a subject, a plain-text body and an HTML body per kind, in the
recipient's language (English, German) with times in their time zone.

Everything a notification carries is data, never markup: the HTML body escapes every value
(``html.escape``), and a subject is one line of printable text (control characters, line
breaks included, become spaces), so a ticket subject like ``<script>…`` or ``x\\r\\nBcc: …``
neither injects markup nor a header.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_LANGUAGE: Final = "en"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    name: str = ""
    locale: str = ""
    timezone: str = ""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


# Per language: the greeting, the closing, and per kind (subject, first line), as str.format
# templates over the notification's data (and ``when``/``until``, its times in the recipient's zone).
_TEXTS: Final[dict[str, dict[str, Any]]] = {
    "en": {
        "greeting": "Hello {name},",
        "closing": "Your Cloud Platform team",
        "link": "Open it at {url}",
        "kinds": {
            "ticket_replied": (
                "New reply to {ticket_number}: {subject}",
                "Our support team replied to your ticket {ticket_number} ({subject}).",
            ),
            "ticket_resolved": (
                "{ticket_number} resolved: {subject}",
                "Your ticket {ticket_number} ({subject}) was resolved.",
            ),
            "maintenance_scheduled": (
                "Maintenance scheduled: {title}",
                'Maintenance "{title}" is scheduled from {when} to {until} ({datacenters}).',
            ),
            "maintenance_started": (
                "Maintenance started: {title}",
                'Maintenance "{title}" has started; it is planned to end {until} ({datacenters}).',
            ),
            "maintenance_completed": (
                "Maintenance completed: {title}",
                'Maintenance "{title}" is completed ({datacenters}).',
            ),
            "invoice_issued": (
                "Invoice {invoice_number}: {total} {currency}",
                "Invoice {invoice_number} over {total} {currency} was issued; it is due {due}.",
            ),
            "invoice_overdue": (
                "Invoice {invoice_number} is overdue",
                "Invoice {invoice_number} was due {due} and is not paid yet.",
            ),
            "payment_recorded": (
                "Payment received for {invoice_number}",
                "We received {amount} {currency} for invoice {invoice_number}; {remaining} {currency} remain.",
            ),
            "account_suspended": ("Your account was suspended", "Your account was suspended. Please contact support."),
            "account_suspended:billing": (
                "Your account was suspended",
                "Your account was suspended: an invoice is overdue past its grace period. Its resources are "
                "locked, nothing is deleted; paying the overdue balance makes it active again.",
            ),
            "account_activated": ("Your account is active", "Your account is active again."),
            "account_activated:billing": (
                "Your account is active",
                "The overdue balance is paid: your account is active again and its resources are unlocked.",
            ),
            "alert_triggered": (
                "Alert: {rule_name}",
                'Alert "{rule_name}" fired for {resource_type} {resource_id}: {metric} {operator} {threshold} '
                "(value {value}) since {when_triggered}.",
            ),
            "alert_resolved": (
                "Resolved: {rule_name}",
                'Alert "{rule_name}" for {resource_type} {resource_id} is resolved {when_resolved} '
                "({metric} at {value}).",
            ),
            "uptime_down": ("Down: {monitor_name}", "Your uptime monitor {monitor_name} ({target}) finds it down."),
            "uptime_up": (
                "Up again: {monitor_name}",
                "Your uptime monitor {monitor_name} ({target}) finds it up again.",
            ),
            "new_sign_in": (
                "New sign-in to your account",
                "Someone signed in to your account {when_signed_in} from an address not seen before ({ip}). "
                "If it was not you, change your password.",
            ),
            "server_error": ("Server {server_id} failed", "Your server {server_id} is in error ({error_code})."),
            "quota_reached": (
                "Your {resource_type} quota is used up",
                "You use {current_usage} of {quota_limit} {resource_type} allowed: ask support for a higher limit.",
            ),
        },
        "fallback": ("Notification: {type}", "There is news for you: {type}."),
    },
    "de": {
        "greeting": "Hallo {name},",
        "closing": "Ihr Cloud-Platform-Team",
        "link": "Details unter {url}",
        "kinds": {
            "ticket_replied": (
                "Neue Antwort zu {ticket_number}: {subject}",
                "Unser Support hat auf Ihr Ticket {ticket_number} ({subject}) geantwortet.",
            ),
            "ticket_resolved": (
                "{ticket_number} gelöst: {subject}",
                "Ihr Ticket {ticket_number} ({subject}) wurde gelöst.",
            ),
            "maintenance_scheduled": (
                "Wartung geplant: {title}",
                'Die Wartung "{title}" ist von {when} bis {until} geplant ({datacenters}).',
            ),
            "maintenance_started": (
                "Wartung begonnen: {title}",
                'Die Wartung "{title}" hat begonnen; sie soll {until} enden ({datacenters}).',
            ),
            "maintenance_completed": (
                "Wartung abgeschlossen: {title}",
                'Die Wartung "{title}" ist abgeschlossen ({datacenters}).',
            ),
            "invoice_issued": (
                "Rechnung {invoice_number}: {total} {currency}",
                "Rechnung {invoice_number} über {total} {currency} wurde ausgestellt; fällig {due}.",
            ),
            "invoice_overdue": (
                "Rechnung {invoice_number} ist überfällig",
                "Rechnung {invoice_number} war {due} fällig und ist noch nicht bezahlt.",
            ),
            "payment_recorded": (
                "Zahlung für {invoice_number} erhalten",
                "Wir haben {amount} {currency} für Rechnung {invoice_number} erhalten; "
                "offen sind {remaining} {currency}.",
            ),
            "account_suspended": (
                "Ihr Konto wurde gesperrt",
                "Ihr Konto wurde gesperrt. Bitte wenden Sie sich an den Support.",
            ),
            "account_suspended:billing": (
                "Ihr Konto wurde gesperrt",
                "Ihr Konto wurde gesperrt: eine Rechnung ist über die Frist hinaus überfällig. Seine Ressourcen "
                "sind gesperrt, nichts wird gelöscht; mit der Zahlung des offenen Betrags ist es wieder aktiv.",
            ),
            "account_activated": ("Ihr Konto ist aktiv", "Ihr Konto ist wieder aktiv."),
            "account_activated:billing": (
                "Ihr Konto ist aktiv",
                "Der offene Betrag ist bezahlt: Ihr Konto ist wieder aktiv, seine Ressourcen sind entsperrt.",
            ),
            "alert_triggered": (
                "Alarm: {rule_name}",
                'Der Alarm "{rule_name}" für {resource_type} {resource_id} hat ausgelöst: {metric} {operator} '
                "{threshold} (Wert {value}) seit {when_triggered}.",
            ),
            "alert_resolved": (
                "Behoben: {rule_name}",
                'Der Alarm "{rule_name}" für {resource_type} {resource_id} ist {when_resolved} behoben '
                "({metric} bei {value}).",
            ),
            "uptime_down": (
                "Nicht erreichbar: {monitor_name}",
                "Ihr Uptime-Monitor {monitor_name} ({target}) meldet: nicht erreichbar.",
            ),
            "uptime_up": (
                "Wieder erreichbar: {monitor_name}",
                "Ihr Uptime-Monitor {monitor_name} ({target}) meldet: wieder erreichbar.",
            ),
            "new_sign_in": (
                "Neue Anmeldung bei Ihrem Konto",
                "Jemand hat sich {when_signed_in} von einer neuen Adresse ({ip}) angemeldet. "
                "Falls Sie es nicht waren, ändern Sie Ihr Passwort.",
            ),
            "server_error": (
                "Server {server_id} ausgefallen",
                "Ihr Server {server_id} ist im Fehlerzustand ({error_code}).",
            ),
            "quota_reached": (
                "Ihr Kontingent für {resource_type} ist ausgeschöpft",
                "Sie nutzen {current_usage} von {quota_limit} erlaubten ({resource_type}): "
                "der Support kann das Limit erhöhen.",
            ),
        },
        "fallback": ("Benachrichtigung: {type}", "Es gibt Neuigkeiten für Sie: {type}."),
    },
}


def language(locale: str) -> str:
    """``de-DE`` → ``de``; an unknown or empty locale → English."""
    lang = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return lang if lang in _TEXTS else DEFAULT_LANGUAGE


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: str, tz: ZoneInfo) -> str:
    """An RFC 3339 time as ``2026-12-08 14:00 CET`` in ``tz``; anything else as it is."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def one_line(text: str, limit: int = 200) -> str:
    """Printable text on one line (a header's value), at most ``limit`` characters."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render(kind: str, data: dict[str, Any], recipient: Recipient, public_url: str) -> RenderedMail:
    texts = _TEXTS[language(recipient.locale)]
    tz = zone(recipient.timezone)
    values = _Values({key: str(value) for key, value in data.items() if not isinstance(value, list | dict)})
    values["type"] = kind
    values["when"] = local_time(str(data.get("start_time", "")), tz)
    values["until"] = local_time(str(data.get("end_time", "")), tz)
    values["due"] = local_time(str(data.get("due_date", "")), tz)
    values["when_signed_in"] = local_time(str(data.get("signed_in_at", "")), tz)
    values["when_triggered"] = local_time(str(data.get("triggered_at", "")), tz)
    values["when_resolved"] = local_time(str(data.get("resolved_at", "")), tz)
    values["datacenters"] = ", ".join(str(d) for d in data.get("affected_datacenters", []) or [])
    values["name"] = recipient.name or recipient.email
    # A kind may say more for one cause ("account_suspended:billing").
    subject_template, line_template = texts["kinds"].get(
        f"{kind}:{data.get('cause', '')}", texts["kinds"].get(kind, texts["fallback"])
    )
    url = public_url.rstrip("/") + "/notifications"
    subject = one_line(subject_template.format_map(values))
    greeting = texts["greeting"].format_map(values)
    line = line_template.format_map(values)
    link = texts["link"].format_map({"url": url})
    text = f"{greeting}\n\n{line}\n\n{link}\n\n-- \n{texts['closing']}\n"
    escaped = _Values({key: html.escape(value) for key, value in values.items()})
    html_body = (
        '<!DOCTYPE html>\n<html lang="{lang}"><body>\n<p>{greeting}</p>\n<p>{line}</p>\n'
        '<p><a href="{url}">{url}</a></p>\n<p>{closing}</p>\n</body></html>\n'
    ).format(
        lang=html.escape(language(recipient.locale)),
        greeting=texts["greeting"].format_map(escaped),
        line=line_template.format_map(escaped),
        url=html.escape(url),
        closing=html.escape(texts["closing"]),
    )
    return RenderedMail(subject=subject, text=text, html=html_body)
