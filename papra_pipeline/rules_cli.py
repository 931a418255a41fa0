"""The ``papra-pipeline rules`` commands: plan, apply and import tagging rules.

``plan`` and ``apply`` need only the API key (``apply``: with ``documents:update`` and
``tags:read``) and the rules file ``PAPRA_TAGGING_RULES``; ``import`` turns Papra's own rules
into that file's form, and needs the login Papra serves them to.

The rule engine, DuckDB and pandas load when a command runs, not when ``papra-pipeline`` parses
its arguments (see cli.py).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from papra_pipeline.client import PapraClient
from papra_pipeline.settings import Settings
from papra_pipeline.sync.clock import utcnow

if TYPE_CHECKING:
    from papra_pipeline.sync.rules import RuleSpec
    from papra_pipeline.warehouse import Warehouse


def new_run_id() -> str:
    """A run id for the additions' record: when, and a random part."""
    return f"rules-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _rules(args: argparse.Namespace, settings: Settings) -> list[RuleSpec]:
    from papra_pipeline.sync.rules import load_rules

    path = args.rules or settings.tagging_rules
    if not path:
        raise SystemExit(
            "error: no tagging rules: set PAPRA_TAGGING_RULES to a YAML file of rules (or pass "
            "--rules FILE); `papra-pipeline rules import` writes Papra's own rules in that form"
        )
    return list(load_rules(path))


def _warehouse(args: argparse.Namespace, settings: Settings) -> Warehouse:
    from papra_pipeline.warehouse import Warehouse

    return Warehouse(
        Path(args.db or settings.duckdb_path), write_memory_limit=settings.write_memory_limit
    )


def _plan(args: argparse.Namespace, settings: Settings):
    from papra_pipeline.sync.rules import plan_rules

    return plan_rules(
        _warehouse(args, settings),
        _rules(args, settings),
        organization_ids=args.organization,
        rule_names=args.rule,
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from papra_pipeline.sync.rules import describe_plan

    plan = _plan(args, Settings.from_env())
    for line in describe_plan(plan):
        print(line)
    print(
        f"{len(plan.additions)} tag(s) to add to {plan.documents} document(s) by "
        f"{len(plan.resolved.specs)} rule(s); nothing was sent (`papra-pipeline rules apply` "
        "sends them)",
        file=sys.stderr,
    )
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from papra_pipeline.sync.rules import apply_plan, check_apply_permissions

    settings = Settings.from_env()
    if not settings.api_key:
        raise SystemExit("error: PAPRA_API_KEY is not set (create an API key in Papra's settings)")
    plan = _plan(args, settings)  # a bad rule stops here, before any request
    with PapraClient.from_settings(settings) as client:
        check_apply_permissions(client)
        result = apply_plan(
            client,
            _warehouse(args, settings),
            plan,
            new_run_id(),
            log=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
        )
    for rule, count in sorted(result.per_rule.items()):
        print(f"rule {rule!r}: added {count} tag(s)")
    print(
        f"Added {result.applied} tag(s) to {result.documents} document(s) in "
        f"{result.requests} request(s); recorded as run {result.run_id} in "
        "tagging_rule_additions"
    )
    for refused in result.refused:
        print(
            f"error: not added in {refused.organization_id} to "
            f"{', '.join(refused.document_ids)}: {refused.reason}",
            file=sys.stderr,
        )
    return 1 if result.refused else 0


def cmd_import(args: argparse.Namespace) -> int:
    from papra_pipeline.sync.rules import papra_rules_as_yaml
    from papra_pipeline.sync.tagging import list_rules

    settings = Settings.from_env()
    if not settings.has_login:
        raise SystemExit(
            "error: Papra serves its tagging rules only to a logged-in user (API keys get "
            "401): set PAPRA_EMAIL and PAPRA_PASSWORD to import them"
        )
    with PapraClient.from_settings(settings) as client:
        text = papra_rules_as_yaml(list_rules(client, args.organization))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"Wrote Papra's tagging rules to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    rules = commands.add_parser(
        "rules", help="tagging rules evaluated over the warehouse, applied with the API key"
    )
    actions = rules.add_subparsers(dest="rules_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rules", metavar="FILE", help="rules file (PAPRA_TAGGING_RULES)")
        parser.add_argument("--organization", action="append", metavar="ID", help="repeatable")
        parser.add_argument("--rule", action="append", metavar="NAME", help="repeatable")
        parser.add_argument("--db", help="DuckDB file (PAPRA_DUCKDB_PATH)")

    plan = actions.add_parser("plan", help="print the tags each rule would add; sends nothing")
    common(plan)
    plan.set_defaults(func=cmd_plan)
    apply = actions.add_parser("apply", help="add them through the API key and record each")
    common(apply)
    apply.set_defaults(func=cmd_apply)
    imported = actions.add_parser(
        "import", help="write Papra's own rules as a rules file (needs the login)"
    )
    imported.add_argument("--organization", action="append", metavar="ID", help="repeatable")
    imported.add_argument("--output", metavar="FILE", help="default: standard output")
    imported.set_defaults(func=cmd_import)
