"""The README's webhook commands are real: each ``papra-pipeline`` line of its webhooks section
parses with the command's own parser, and the names it documents exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from papra_pipeline.cli import build_parser
from papra_pipeline.client.webhooks import WEBHOOK_EVENTS

README = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text()
SECTION = README.split("## Webhooks: changes within seconds", 1)[1].split("\n## ", 1)[0]
COMMANDS = [
    shlex.split(line.split("#", 1)[0].split("&&")[-1].strip().rstrip('"'))
    for line in SECTION.splitlines()
    if "papra-pipeline webhooks" in line
]


def test_the_section_shows_every_webhooks_command():
    shown = {args[args.index("webhooks") + 1] for args in COMMANDS}
    assert shown == {"serve", "register", "list", "unregister"}


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[1:4]) for a in COMMANDS])
def test_each_command_parses(args):
    program = args.index("webhooks") - 1
    assert args[program].endswith("papra-pipeline")
    parsed = build_parser().parse_args(args[program + 1 :])
    assert parsed.func.__module__ == "papra_pipeline.webhooks.cli"


def test_every_event_in_the_table_is_one_papra_sends():
    documented = set(re.findall(r"`(document:[a-z:]+)`", SECTION))
    assert documented == set(WEBHOOK_EVENTS)
