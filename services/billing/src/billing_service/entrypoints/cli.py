"""Billing's operations, as a process of its own: ``python -m billing_service.entrypoints.cli``.

* ``run --period YYYY-MM``: bill every account with unbilled usage up to the end of the period
  now (the same handler as the RunInvoices RPC and the keeper's scheduled run; once: a second
  run issues nothing). It works whether or not the billing gRPC server runs.
* ``reconcile --period YYYY-MM``: rebuild billing from its streams (offset 0) and diff the
  period's invoices line by line (entrypoints/reconcile.py); of an open period (no invoice
  issued yet) compare the ingested usage with the streams' instead; exit 1 on any difference.
* ``retention``: delete the usage records billed on invoices of periods that ended more than
  CP_USAGE_RETENTION_DAYS (90) ago now (``cloudctl retention run``; one JSON line).

The database is ``--database-url`` or ``CP_DATABASE_URL``; Kafka ``--bootstrap`` or
``CP_KAFKA_BOOTSTRAP``; invoicing rules come from the CP_BILLING_* variables (seller's country,
tax table file, included VAT, payment terms). ``cloudctl billing run|reconcile`` runs this.
Exit codes: 0 done (and clean), 1 differences found, 2 the request cannot be carried out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date

from sqlalchemy import exc as sa_exc

from billing_service import SERVICE_NAME
from billing_service.bootstrap import bootstrap
from billing_service.config import BillingRules, RetentionSettings
from billing_service.domain.commands import RunInvoices
from billing_service.domain.invoice import parse_period
from billing_service.domain.reconciliation import ReconcileReport
from billing_service.entrypoints.reconcile import ReconcileBusy, reconcile
from billing_service.entrypoints.retention_keeper import TABLE, usage_retention
from billing_service.service_layer.invoice_run import run_invoices
from cpshared.logging import configure_logging
from cpshared.retention import run_retention
from cpshared.settings import load_settings
from cpshared.topics import IDENTITY_EVENTS, USAGE_EVENTS, Topic, TopicKind


def _period(text: str) -> date:
    try:
        return parse_period(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m billing_service.entrypoints.cli", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    retention = commands.add_parser("retention", help="Delete billed usage older than the retention now.")
    retention.add_argument("--database-url", default=os.environ.get("CP_DATABASE_URL", ""), help="Billing's database.")
    for name, help_text in (
        ("run", "Issue the period's invoices now."),
        ("reconcile", "Rebuild billing from its streams and diff the period's invoices."),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--period", type=_period, required=True, help="The billing period, YYYY-MM.")
        command.add_argument(
            "--database-url", default=os.environ.get("CP_DATABASE_URL", ""), help="Billing's database."
        )
        if name == "reconcile":
            command.add_argument("--bootstrap", default=os.environ.get("CP_KAFKA_BOOTSTRAP", ""), help="Kafka.")
            command.add_argument("--keep-tables", action="store_true", help="Keep the rebuilt *__recon tables.")
            command.add_argument(
                "--topic",
                action="append",
                default=[],
                help="A stream to replay instead of usage.events and identity.events (repeatable).",
            )
            command.add_argument("--show", type=int, default=200, help="Differences to list at most.")
    return parser


def _run(database_url: str, period: date, rules: BillingRules) -> int:
    billing = bootstrap(database_url, rules, pool_size=1)
    try:
        report = run_invoices(RunInvoices(period), billing.terms, billing.uow)
    finally:
        billing.close()
    for invoice in report.issued:
        account = str(invoice.account)
        print(f"{invoice.invoice_number}  {account:<22} {invoice.total:>12} {invoice.currency}")
    print(f"{len(report.issued)} invoice(s) issued for {period:%Y-%m}; {report.already_invoiced} already invoiced")
    return 0


def _retention(database_url: str, settings: RetentionSettings, rules: BillingRules) -> int:
    configure_logging(SERVICE_NAME)
    for handler in logging.getLogger().handlers:  # stdout carries the answer only
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    billing = bootstrap(database_url, rules, pool_size=1)
    try:
        removed = run_retention(billing.engine, usage_retention(billing, settings))
    except sa_exc.SQLAlchemyError as exc:
        print(f"retention failed: {exc}", file=sys.stderr)
        return 1
    finally:
        billing.close()
    if removed is None:
        print("retention failed: another process is running the retention of usage_records", file=sys.stderr)
        return 1
    print(json.dumps({"table": TABLE, "rows_removed": removed, "kept_days": settings.usage_retention_days}))
    return 0


def _reconcile(args: argparse.Namespace, rules: BillingRules) -> int:
    if not args.bootstrap:
        print("name Kafka: --bootstrap or CP_KAFKA_BOOTSTRAP", file=sys.stderr)
        return 2
    streams = (
        [Topic(name=t, kind=TopicKind.DOMAIN, partitions=1) for t in args.topic]
        if args.topic
        else [USAGE_EVENTS, IDENTITY_EVENTS]
    )
    billing = bootstrap(args.database_url, rules, pool_size=2)
    try:
        report = asyncio.run(
            reconcile(billing.engine, args.bootstrap, args.period, rules, topics=streams, keep_tables=args.keep_tables)
        )
    except ReconcileBusy as exc:
        print(f"cannot reconcile: {exc}")
        return 2
    finally:
        billing.close()
    return _print_report(report, args.show)


def _print_report(report: ReconcileReport, show: int) -> int:
    replayed = f"{report.period:%Y-%m}: {report.events_replayed:,} events replayed in {report.replay_seconds:.1f}s; "
    if report.open:
        print(
            f"{replayed}open period (no invoice issued yet): "
            f"{report.usage_compared:,} usage record(s) compared with the streams"
        )
    elif report.usage_removed:
        print(
            f"{replayed}{report.issued_invoices} invoice(s) issued; their usage was removed by the retention: "
            "checked on their own figures (numbers, lines, tax, total)"
        )
    else:
        print(f"{replayed}{report.issued_invoices} invoice(s) issued, {report.recomputed_invoices} recomputed")
    if report.clean:
        print("open period, usage matches" if report.open else "no difference")
        return 0
    header = ("account", "invoice number", "line", "field") + (
        ("billing", "streams") if report.open else ("issued", "recomputed")
    )
    rows = [header] + [
        (d.account, d.invoice_number, d.line, d.field, d.issued, d.recomputed) for d in report.differences[:show]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print("differences")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if len(report.differences) > show:
        print(f"… and {len(report.differences) - show} more")
    print(f"{len(report.differences)} difference(s)")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.database_url:
        print("name billing's database: --database-url or CP_DATABASE_URL", file=sys.stderr)
        return 2
    rules = load_settings(BillingRules)
    if args.command == "retention":
        return _retention(args.database_url, load_settings(RetentionSettings), rules)
    if args.command == "run":
        return _run(args.database_url, args.period, rules)
    return _reconcile(args, rules)


if __name__ == "__main__":
    sys.exit(main())
