"""The ``papra-pipeline webhooks`` commands: serve, register, unregister, list."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from papra_pipeline.client import PapraClient
from papra_pipeline.settings import Settings
from papra_pipeline.warehouse.inbox import inbox_path
from papra_pipeline.webhooks import DELIVERY_PATH, SECRET_ENV, registration


def _secret(settings: Settings) -> str:
    if not settings.webhook_secret:
        raise SystemExit(
            f"error: {SECRET_ENV} is not set: choose a long random secret (e.g. `openssl rand "
            "-hex 32`) and give the same value to `webhooks serve` and `webhooks register`"
        )
    return settings.webhook_secret


def _inbox(args: argparse.Namespace, settings: Settings) -> Path:
    return inbox_path(args.db or settings.duckdb_path, settings.webhook_inbox)


def _session_client(settings: Settings) -> PapraClient:
    if not settings.has_login:
        raise SystemExit(
            "error: Papra manages webhooks only for a logged-in user (API keys get 401): set "
            "PAPRA_EMAIL and PAPRA_PASSWORD"
        )
    return PapraClient.from_settings(settings)


def cmd_serve(args: argparse.Namespace) -> int:
    from papra_pipeline.webhooks.receiver import serve

    settings = Settings.from_env()
    secret = _secret(settings)
    inbox = _inbox(args, settings)
    print(
        f"Receiving Papra webhooks at http://{args.host}:{args.port}{DELIVERY_PATH} into {inbox}",
        file=sys.stderr,
        flush=True,
    )
    serve(secret, inbox, host=args.host, port=args.port)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    secret = _secret(settings)
    with _session_client(settings) as client:
        done = registration.register(client, args.url, secret, args.organization)
    for item in done:
        print(f"{item.action} {item.webhook.id} in {item.organization_id}: {item.webhook.url}")
    return 0


def cmd_unregister(args: argparse.Namespace) -> int:
    with _session_client(Settings.from_env()) as client:
        deleted = registration.unregister(client, args.url, args.organization)
    for org, webhook_id in deleted:
        print(f"deleted {webhook_id} in {org}")
    if not deleted:
        print(f"no webhook to {args.url}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _session_client(Settings.from_env()) as client:
        hooks = registration.list_webhooks(client, args.organization)
    for hook in hooks:
        state = "enabled" if hook.enabled else "disabled"
        events = ",".join(sorted(hook.events or ()))
        print(f"{hook.organization_id}  {hook.id}  {state:<8}  {hook.url}  {events}")
    if not hooks:
        print("no webhooks (`papra-pipeline webhooks register --url URL` creates them)")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``webhooks`` and its subcommands to the main parser."""
    webhooks = commands.add_parser("webhooks", help="receive Papra webhooks and register them")
    sub = webhooks.add_subparsers(dest="webhooks_command", required=True)

    serve = sub.add_parser(
        "serve", help=f"receive deliveries at POST {DELIVERY_PATH} (needs {SECRET_ENV})"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument(
        "--db", help="DuckDB file whose inbox to fill (PAPRA_DUCKDB_PATH; PAPRA_WEBHOOK_INBOX wins)"
    )
    serve.set_defaults(func=cmd_serve)

    register = sub.add_parser(
        "register", help="create or update the webhook to URL for all five events (a login)"
    )
    register.add_argument("--url", required=True, help=f"the receiver, ending in {DELIVERY_PATH}")
    register.add_argument("--organization", action="append", metavar="ID", help="repeatable")
    register.set_defaults(func=cmd_register)

    unregister = sub.add_parser("unregister", help="delete the webhooks to URL")
    unregister.add_argument("--url", required=True)
    unregister.add_argument("--organization", action="append", metavar="ID", help="repeatable")
    unregister.set_defaults(func=cmd_unregister)

    listing = sub.add_parser("list", help="list the webhooks of each organization")
    listing.add_argument("--organization", action="append", metavar="ID", help="repeatable")
    listing.set_defaults(func=cmd_list)
