"""Every PAPRA_* variable is parsed once, by Settings, and changes what the CLI and Dagster do.

The behaviour tests run each variable at two values against a loopback fake Papra: once through
``papra-pipeline`` (in process) and once through the resources of the Dagster definitions the
code location builds from the same environment, and expect a different outcome.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from papra_pipeline.cli import main
from papra_pipeline.client import PapraClient, PapraError
from papra_pipeline.defs import build_definitions
from papra_pipeline.settings import Settings, SettingsError
from papra_pipeline.sync import SyncOptions
from papra_pipeline.sync.rules import RulesError, load_rules, plan_rules
from papra_pipeline.sync.webhooks import sync_draining_webhooks
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse.formats import storage_version_of
from papra_pipeline.warehouse.inbox import InboxDelivery, WebhookInbox

REPO = Path(__file__).resolve().parent.parent
RULES_FILE = REPO / "docs" / "tagging-rules.example.yaml"


# ---------------------------------------------------------------------------------- parsing


def test_unset_and_blank_variables_mean_the_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"PAPRA_MAX_RETRIES": "  ", "PAPRA_API_KEY": ""}) == Settings()


def test_every_variable_is_parsed_into_its_field():
    settings = Settings.from_env({
        "PAPRA_API_URL": "https://papra.example.com",
        "PAPRA_API_KEY": "ppapi_k",
        "PAPRA_TIMEOUT_SECONDS": "2.5",
        "PAPRA_MAX_RETRIES": "0",
        "PAPRA_MAX_CONCURRENCY": "3",
        "PAPRA_ALLOW_INSECURE_HTTP": "yes",
        "PAPRA_WRITE_MEMORY_LIMIT": "1GB",
        "PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS": " tr_a, ,tr_b ",
        "PAPRA_FRESHNESS_HOURS": "0.5",
    })
    assert (settings.api_url, settings.api_key) == ("https://papra.example.com", "ppapi_k")
    assert (settings.timeout_seconds, settings.max_retries, settings.max_concurrency) == (
        2.5,
        0,
        3,
    )
    assert settings.allow_insecure_http is True
    assert settings.write_memory_limit == "1GB"
    assert settings.reapply_rule_ids == ("tr_a", "tr_b")
    assert settings.freshness_hours == 0.5


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PAPRA_MAX_RETRIES", "five", "not a whole number"),
        ("PAPRA_MAX_RETRIES", "-1", "must be >= 0"),
        ("PAPRA_MAX_CONCURRENCY", "0", "must be >= 1"),
        ("PAPRA_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("PAPRA_ALLOW_INSECURE_HTTP", "maybe", "is not one of"),
        ("PAPRA_WRITE_MEMORY_LIMIT", "lots'; DROP TABLE documents; --", "96MB or 1GB"),
        ("PAPRA_FULL_SYNC_CRON", "hourly", "cron"),
        ("PAPRA_REPORTS_START_DATE", "yesterday", "2024-01-01"),
        ("PAPRA_READER_STORAGE_VERSION", "1.4", "such as v1.2.0"),
        ("PAPRA_READER_STORAGE_VERSION", "v1.1.3", "must be v1.2.0 or later"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_would_do(name, value, says):
    with pytest.raises(SettingsError, match=re.escape(name)) as raised:
        Settings.from_env({name: value})
    assert says in str(raised.value)


def test_secrets_stay_out_of_errors_and_reprs():
    settings = Settings.from_env({
        "PAPRA_API_KEY": "ppapi_topsecret",
        "PAPRA_PASSWORD": "hunter2",
        "PAPRA_WEBHOOK_SECRET": "whsec-shh",
    })
    for secret in ("topsecret", "hunter2", "whsec-shh"):
        assert secret not in repr(settings)
    assert [v.name for v in Settings.variables() if v.secret] == [
        "PAPRA_API_KEY",
        "PAPRA_PASSWORD",
        "PAPRA_WEBHOOK_SECRET",
    ]


# ---------------------------------------------------------------------------------- documentation


def readme_table() -> dict[str, str]:
    """The README's table of variables: name -> meaning."""
    row = re.compile(r"^\| `(PAPRA_\w+)` \| [^|]* \| (.+) \|$", re.M)
    return dict(row.findall((REPO / "README.md").read_text()))


def test_the_readme_table_is_the_declared_variables_in_order():
    documented = readme_table()
    assert list(documented) == [v.name for v in Settings.variables()]
    for var in Settings.variables():
        assert documented[var.name] == var.description, var.name


def test_env_example_mentions_every_variable():
    example = (REPO / ".env.example").read_text()
    for var in Settings.variables():
        assert re.search(rf"^#? ?{var.name}=", example, re.M), var.name


# ---------------------------------------------------------------------------------- behaviour


@pytest.fixture(scope="module")
def fake():
    fake = FakePapra(auto_extract=True)
    populate(fake, organizations=2, documents=12, tags=2, custom_properties=2, seed=11)
    return fake


@pytest.fixture(scope="module")
def url(fake):
    with serve(fake) as base_url:
        yield base_url


@pytest.fixture
def environment(fake, url, tmp_path, monkeypatch):
    """Apply a user's environment: the fake's URL and key, a DuckDB file, no retries."""

    def apply(**values: str) -> None:
        base = {
            "PAPRA_API_URL": url,
            "PAPRA_API_KEY": fake.api_key,
            "PAPRA_DUCKDB_PATH": str(tmp_path / "papra.duckdb"),
        }
        for var in Settings.variables():
            monkeypatch.delenv(var.name, raising=False)
        for name, value in (base | values).items():
            monkeypatch.setenv(name, value)
        fake.faults.clear()
        fake.clear_hooks()
        for leftover in tmp_path.glob("*.duckdb*"):
            leftover.unlink()

    yield apply
    fake.faults.clear()
    fake.clear_hooks()


def through_cli(command: str) -> str:
    """Run ``papra-pipeline COMMAND``; what a user sees that tells the outcomes apart."""
    try:
        code = main(command.split())
    except SystemExit as exc:  # what `papra-pipeline` ends with on a refusal
        return f"exit: {exc.code}"
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome too
        return f"crashed: {type(exc).__name__}"
    return f"exit {code}"


def through_dagster(command: str) -> str:
    """The same through the resources Dagster hands the assets, as a run initialises them."""
    try:
        defs = build_definitions()  # a code location that cannot load is an outcome too
        with dg.build_resources(defs.resources) as resources:
            client = resources.papra.get_client()
            with client:
                if command == "sync":
                    store = resources.warehouse.get_warehouse()
                    papra = resources.papra
                    options = SyncOptions(
                        content=papra.content, reverify_period=timedelta(days=papra.reverify_days)
                    )
                    inbox = resources.warehouse.inbox_path()
                    sync_draining_webhooks(client, store, options, inbox_file=inbox)
                elif command.startswith("rules"):
                    if not resources.papra.tagging_rules:
                        raise RulesError("no rules file")
                    plan_rules(
                        resources.warehouse.get_warehouse(),
                        load_rules(resources.papra.tagging_rules),
                    )
                else:
                    client.list_tagging_rules(client.list_organizations()[0].id)
    except Exception as exc:  # noqa: BLE001 - a failure is an outcome too
        return f"failed: {type(exc).__name__}"
    return "succeeded"


@dataclass(frozen=True)
class Case:
    """Two values of one variable and how to tell their outcomes apart."""

    first: dict[str, str]
    second: dict[str, str]
    command: str = "sync"
    # Beside the outcome: something the outcome alone would not show (requests, files...).
    observe: Callable[[FakePapra, Path], object] = lambda fake, tmp: None
    prepare: Callable[[FakePapra], None] = lambda fake: None


def slow_organizations(fake: FakePapra) -> None:
    fake.faults.add("slow", route="GET /api/organizations", delay=1.0)


def one_unavailable_answer(fake: FakePapra) -> None:
    fake.faults.add("503", route="GET /api/organizations", times=1)


def count_requests_in_flight(fake: FakePapra) -> None:
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def hold(record) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1

    fake.in_flight = state
    fake.add_hook(hold)


def one_pending_delivery(path: Path) -> Callable[[FakePapra], None]:
    """A fresh inbox at ``path`` holding one delivery that names a real document."""

    def prepare(fake: FakePapra) -> None:
        path.unlink(missing_ok=True)
        org = next(iter(fake.organizations))
        document = fake.documents(org, include_deleted=False)[0]
        with WebhookInbox(path) as inbox:
            inbox.add([InboxDelivery("msg_1", "document:updated", org, document["id"], 0)])

    return prepare


def pending_deliveries(path: Path) -> int:
    with WebhookInbox(path) as inbox:
        return len(inbox.pending())


def login(fake: FakePapra, **values: str) -> dict[str, str]:
    return {"PAPRA_EMAIL": fake.email, "PAPRA_PASSWORD": fake.password} | values


def cases(fake: FakePapra, url: str, tmp: Path) -> dict[str, Case]:
    """Every variable the CLI reads. Variables documented as ``Dagster:`` are tested below."""
    port = url.rsplit(":", 1)[1]
    no_retry = {"PAPRA_MAX_RETRIES": "0"}
    return {
        "PAPRA_API_URL": Case(
            {"PAPRA_API_URL": url}, {"PAPRA_API_URL": url + "/not-papra"}
        ),
        "PAPRA_API_KEY": Case(
            {"PAPRA_API_KEY": fake.api_key}, {"PAPRA_API_KEY": "ppapi_" + "U" * 64}
        ),
        "PAPRA_EMAIL": Case(
            login(fake), login(fake, PAPRA_EMAIL="someone@example.com"), command="doctor"
        ),
        "PAPRA_PASSWORD": Case(
            login(fake), login(fake, PAPRA_PASSWORD="wrong-password"), command="doctor"
        ),
        # 127.1 is 127.0.0.1 to the socket but not a loopback literal to the client, which
        # refuses to send the key over plain http to it unless allowed.
        "PAPRA_ALLOW_INSECURE_HTTP": Case(
            {"PAPRA_API_URL": f"http://127.1:{port}", "PAPRA_ALLOW_INSECURE_HTTP": "1"},
            {"PAPRA_API_URL": f"http://127.1:{port}"},
        ),
        "PAPRA_TIMEOUT_SECONDS": Case(
            no_retry, {**no_retry, "PAPRA_TIMEOUT_SECONDS": "0.3"}, prepare=slow_organizations
        ),
        "PAPRA_MAX_RETRIES": Case(
            {},
            no_retry,
            prepare=one_unavailable_answer,
            observe=lambda fake, tmp: fake.request_count("GET /api/organizations"),
        ),
        "PAPRA_MAX_CONCURRENCY": Case(
            {},
            {"PAPRA_MAX_CONCURRENCY": "1"},
            prepare=count_requests_in_flight,
            observe=lambda fake, tmp: fake.in_flight["most"] > 1,
        ),
        "PAPRA_DUCKDB_PATH": Case(
            {"PAPRA_DUCKDB_PATH": str(tmp / "a.duckdb")},
            {"PAPRA_DUCKDB_PATH": str(tmp / "b.duckdb")},
            observe=lambda fake, tmp: sorted(p.name for p in tmp.glob("*.duckdb")),
        ),
        # The storage format of the file readers open: DuckDB 1.2's by default.
        "PAPRA_READER_STORAGE_VERSION": Case(
            {},
            {"PAPRA_READER_STORAGE_VERSION": "v2.0.0"},
            observe=lambda fake, tmp: storage_version_of(tmp / "papra.duckdb"),
        ),
        # Far too little memory for DuckDB: the write fails, which proves the limit is applied.
        "PAPRA_WRITE_MEMORY_LIMIT": Case({}, {"PAPRA_WRITE_MEMORY_LIMIT": "1KB"}),
        # Its effect shows from the second full sync on (tests/sync/test_verification.py);
        # here, that both read it: a value that is not a period stops the run.
        "PAPRA_REVERIFY_DAYS": Case({"PAPRA_REVERIFY_DAYS": "7"}, {"PAPRA_REVERIFY_DAYS": "soon"}),
        # The sync drains the inbox it is told of; the default one, beside the file, is empty.
        "PAPRA_WEBHOOK_INBOX": Case(
            {"PAPRA_WEBHOOK_INBOX": str(tmp / "inbox.sqlite")},
            {},
            prepare=one_pending_delivery(tmp / "inbox.sqlite"),
            observe=lambda fake, tmp: pending_deliveries(tmp / "inbox.sqlite"),
        ),
        # Without a warehouse both outcomes fail, but on different grounds: no file of rules,
        # or (rules read) no warehouse to plan them over.
        "PAPRA_TAGGING_RULES": Case(
            {"PAPRA_TAGGING_RULES": str(RULES_FILE)}, {}, command="rules plan"
        ),
        "PAPRA_WEBHOOK_SECRET": Case(
            login(fake, PAPRA_WEBHOOK_SECRET="a-long-random-secret"),
            login(fake),
            command="webhooks register --url https://hooks.example.com/webhooks/papra",
        ),
    }


def run_case(case: Case, values: dict[str, str], how, environment, fake, tmp_path):
    environment(**values)
    fake.reset_requests()
    case.prepare(fake)
    outcome = how(case.command)
    return outcome, case.observe(fake, tmp_path)


CLI_VARIABLES = [v.name for v in Settings.variables() if not v.description.startswith("Dagster:")]
# Only the CLI reads it: Dagster never receives webhook deliveries.
CLI_ONLY = {"PAPRA_WEBHOOK_SECRET"}


def test_every_variable_the_cli_reads_has_a_behaviour_case(fake, url, tmp_path):
    assert sorted(cases(fake, url, tmp_path)) == sorted(CLI_VARIABLES)


@pytest.mark.parametrize(
    ("name", "how"),
    [
        pytest.param(name, how, id=f"{name}-{how_id}")
        for name in CLI_VARIABLES
        for how, how_id in ((through_cli, "cli"), (through_dagster, "dagster"))
        if not (how is through_dagster and name in CLI_ONLY)
    ],
)
def test_the_variable_changes_what_happens(name, how, environment, fake, url, tmp_path):
    case = cases(fake, url, tmp_path)[name]
    first = run_case(case, case.first, how, environment, fake, tmp_path)
    second = run_case(case, case.second, how, environment, fake, tmp_path)
    assert first != second, f"{name} made no difference: {first}"


def test_max_retries_zero_stops_the_cli_after_one_request(environment, fake, capsys):
    environment(PAPRA_MAX_RETRIES="0")
    fake.reset_requests()
    fake.faults.add("503", route="GET /api/organizations")
    assert main(["sync"]) == 1
    assert fake.request_count("GET /api/organizations") == 1
    assert "error:" in capsys.readouterr().err


DAGSTER_VALUES = {
    "PAPRA_FULL_SYNC_CRON": "5 4 * * *",
    "PAPRA_STATISTICS_CRON": "*/10 * * * *",
    "PAPRA_CHANGE_SENSOR_SECONDS": "45",
    "PAPRA_TAGGING_SENSOR_SECONDS": "600",
    "PAPRA_REPORTS_START_DATE": "2025-06-01",
    "PAPRA_FRESHNESS_HOURS": "6",
    "PAPRA_WEBHOOK_SENSOR_SECONDS": "3",
}
# Evaluated through the tagging-rules sensor, with a fake that has rules and a login:
# tests/defs/test_sensors.py::test_the_rules_to_reapply_come_from_the_environment.
TESTED_WITH_THE_SENSORS = {"PAPRA_REAPPLY_RULES_ON_NEW_DOCUMENTS"}


def test_every_dagster_variable_is_tested():
    dagster_only = {v.name for v in Settings.variables() if v.description.startswith("Dagster:")}
    assert dagster_only == set(DAGSTER_VALUES) | TESTED_WITH_THE_SENSORS


def test_dagster_only_variables_shape_the_definitions(environment):
    environment(**DAGSTER_VALUES)
    repository = build_definitions().get_repository_def()
    schedules = {s.name: s for s in repository.schedule_defs}
    sensors = {s.name: s for s in repository.sensor_defs}
    assert schedules["papra_full_sync_schedule"].cron_schedule == "5 4 * * *"
    assert schedules["papra_statistics_snapshot_schedule"].cron_schedule == "*/10 * * * *"
    assert sensors["papra_change_sensor"].minimum_interval_seconds == 45
    assert sensors["papra_tagging_rules_sensor"].minimum_interval_seconds == 600
    assert sensors["papra_webhook_sensor"].minimum_interval_seconds == 3
    reports = repository.asset_graph.get(dg.AssetKey("papra_report_daily_documents"))
    assert reports.partitions_def.get_first_partition_key() == "2025-06-01"
    documents = repository.asset_graph.get(dg.AssetKey("papra_documents"))
    assert documents.freshness_policy.fail_window.to_timedelta() == timedelta(hours=6)


def test_a_bad_variable_stops_the_cli_with_one_line(environment, capsys):
    environment(PAPRA_MAX_RETRIES="lots")
    assert main(["sync"]) == 1
    assert "error: PAPRA_MAX_RETRIES='lots' is not a whole number" in capsys.readouterr().err


def test_client_from_env_reads_the_client_variables(environment):
    environment(PAPRA_TIMEOUT_SECONDS="4", PAPRA_MAX_RETRIES="0", PAPRA_MAX_CONCURRENCY="2")
    with PapraClient.from_env() as client:
        assert (client.timeout, client.max_retries, client.max_concurrency) == (4.0, 0, 2)
    with pytest.raises(PapraError), PapraClient.from_env(api_key="ppapi_" + "U" * 64) as client:
        client.list_organizations()
