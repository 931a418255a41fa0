"""The README is documentation users copy from: every SQL example runs on a synced warehouse,
and every public table and view is documented."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from papra_pipeline.sync import sync
from papra_pipeline.sync.tagging import apply_tagging_rules
from papra_pipeline.testing import FakePapra, populate
from papra_pipeline.warehouse import PUBLIC_TABLES, VIEWS, Warehouse
from papra_pipeline.warehouse.reports import REPORT_TABLES, refresh_daily_reports
from tests.sync.helpers import logged_in_client

README = (Path(__file__).parent.parent / "README.md").read_text()
EXAMPLES = re.findall(r"```sql\n(.*?)```", README, flags=re.DOTALL)
# The Python examples that read the warehouse, and the one that adds Papra to a Dagster project.
PYTHON_EXAMPLES = [
    code
    for code in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    if "duckdb.connect" in code
]
DAGSTER_EXAMPLES = [
    code
    for code in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    if "build_definitions" in code
]


def readme_warehouse(warehouse: Warehouse) -> FakePapra:
    """Fill ``warehouse`` so that every README query has rows: a sync, a tagging rule applied,
    the daily reports; returns the fake Papra it came from."""
    fake = FakePapra()
    populate(fake, organizations=2, documents=80, tags=5, custom_properties=8, seed=11)
    org = fake.list_organizations()[0]["id"]
    tag = fake.list_tags(org)[0]["id"]
    fake.create_tagging_rule(
        org, "Invoices", [{"field": "name", "operator": "contains", "value": "invoice"}], [tag]
    )
    with logged_in_client(fake) as client:
        sync(client, warehouse)
        apply_tagging_rules(client, warehouse)
    with warehouse.read() as con:
        first, last = con.execute(
            "SELECT min(created_at), max(created_at) FROM documents"
        ).fetchall()[0]
    refresh_daily_reports(warehouse, first.date(), last.date())
    return fake


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    warehouse = Warehouse(tmp_path_factory.mktemp("readme") / "papra.duckdb")
    readme_warehouse(warehouse)
    return warehouse


def test_every_public_table_and_view_is_documented_with_an_example():
    for name in [t.name for t in PUBLIC_TABLES] + list(VIEWS) + list(REPORT_TABLES):
        assert f"`{name}`" in README, name
        assert any(re.search(rf"\b{name}\b", sql) for sql in EXAMPLES), name


@pytest.mark.parametrize("sql", EXAMPLES, ids=[s.split("\n")[0][:40] for s in EXAMPLES])
def test_each_sql_example_runs(warehouse, sql):
    with warehouse.read() as con:
        rows = con.execute(sql).fetchall()
    assert rows, sql


@pytest.mark.parametrize("code", PYTHON_EXAMPLES or [None], ids=lambda code: "python")
def test_each_python_example_runs_on_the_readers_file(warehouse, code):
    """In its own process, next to papra.duckdb, as a notebook would; the sync's file beside
    it is still there, and no example needs it."""
    assert code is not None, "the README shows how to read the warehouse from Python"
    assert warehouse.path.name == "papra.duckdb" and warehouse.private_path.exists()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=warehouse.path.parent, capture_output=True,
        text=True, timeout=120, check=False,
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr


def test_every_dagster_name_in_the_readme_exists():
    from papra_pipeline.definitions import defs

    documented = set(re.findall(r"`(papra_[a-z_]+)`", README))
    real = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    real |= {job.name for job in defs.resolve_all_job_defs()}
    real |= {s.name for s in defs.schedules} | {s.name for s in defs.sensors}
    real |= {"papra_duckdb", "papra_sync"}  # the pool and the multi-asset's op name
    assert documented - real == set()
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} <= documented


@pytest.mark.slow
def test_the_python_dagster_example_loads_as_a_projects_definitions(tmp_path):
    """Pasted as the ``definitions.py`` of a fresh ``dg`` project, it loads the project's own
    definitions and Papra's, as ``dg`` sees them."""
    from tests.defs.test_component import PROJECT_FILES, dg_command

    [code] = DAGSTER_EXAMPLES
    project = tmp_path / "my-project"
    for name, text in PROJECT_FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text))
    (project / "src/my_project/definitions.py").write_text(code)
    (project / "src/my_project/defs/mine.py").write_text(
        "import dagster as dg\n\n\n@dg.asset\ndef my_table() -> None: ...\n"
    )

    listed = dg_command(project, "list", "defs", "--json", PAPRA_API_KEY="ppapi_from_the_env")
    assert listed.returncode == 0, listed.stderr
    defined = json.loads(listed.stdout)
    assets = {asset["asset_key"] for asset in defined["assets"]}
    assert {"my_table", "papra_documents"} <= assets
    assert "papra_full_sync_job" in {job["name"] for job in defined["jobs"]}


def test_the_compose_example_runs_real_commands_with_real_variables():
    import yaml

    from papra_pipeline.cli import build_parser
    from papra_pipeline.settings import Settings

    [example] = [y for y in re.findall(r"```yaml\n(.*?)```", README, re.S) if "services:" in y]
    services = yaml.safe_load(example)["services"]
    assert set(services) == {"dagster", "webhooks"}
    known = {variable.name for variable in Settings.variables()}
    for service in services.values():
        assert service["env_file"] == ".env"
        assert set(service["environment"]) <= known
        shell, flag, script = shlex.split(service["command"])
        assert (shell, flag) == ("sh", "-c")
        install, run = script.split(" && ")
        assert install == "pip install -q -e ."
        service["run"] = shlex.split(run)
    # Dagster's current command (dagster dev is superseded), and the receiver on the port
    # Papra is told to call.
    assert services["dagster"]["run"][:2] == ["dg", "dev"]
    serve = services["webhooks"]["run"]
    assert serve[0] == "papra-pipeline"
    assert build_parser().parse_args(serve[1:]).port == 8787
    assert "8787:8787" in services["webhooks"]["ports"]
    assert "http://webhooks:8787/webhooks/papra" in README


def _papra_pipeline_lines() -> list[list[str]]:
    """Each ``papra-pipeline`` command of the README's shell blocks, as its words."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL):
        for line in block.splitlines():
            if "papra-pipeline" not in line:
                continue
            words = shlex.split(line.split(" #", 1)[0])
            programs = [i for i, word in enumerate(words) if word.endswith("papra-pipeline")]
            if programs:
                commands.append(words[programs[0] :])
    return commands


@pytest.mark.parametrize("words", _papra_pipeline_lines(), ids=lambda w: " ".join(w[1:3]))
def test_each_papra_pipeline_command_parses(words):
    from papra_pipeline.cli import build_parser

    build_parser().parse_args(words[1:])


def test_the_sync_usage_line_names_every_option():
    from papra_pipeline.cli import build_parser

    [usage] = re.findall(r"`papra-pipeline sync \[.*?`", README, flags=re.DOTALL)
    sync_parser = build_parser()._subparsers._group_actions[0].choices["sync"]
    options = {o for a in sync_parser._actions for o in a.option_strings if o.startswith("--")}
    assert {o for o in options if o != "--help"} <= set(re.findall(r"--[a-z-]+", usage))
