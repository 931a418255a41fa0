"""PapraComponent in a fresh ``dg`` project: listed, scaffolded, checked, loaded and run.

The project is made by the test from nothing but files (no network, no install): ``dg`` runs
from this venv with the project's ``src`` on PYTHONPATH, as an editable install would put it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from papra_pipeline.defs.component import PapraComponent
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse

pytestmark = pytest.mark.slow

DG = Path(sys.executable).parent / "dg"
PROJECT_FILES = {
    "pyproject.toml": """\
        [project]
        name = "my-project"
        version = "0.1.0"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "my_project"

        [tool.dg.cli.telemetry]
        enabled = false
        """,
    "src/my_project/__init__.py": "",
    "src/my_project/defs/__init__.py": "",
    "src/my_project/definitions.py": """\
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs():
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "my-project"
    for name, text in PROJECT_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def dg_command(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PAPRA_", "DAGSTER_"))}
    environ |= {
        "PYTHONPATH": str(project / "src"),
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        "PATH": f"{DG.parent}{os.pathsep}{environ.get('PATH', '')}",
        **env,
    }
    return subprocess.run(
        [str(DG), *args], cwd=project, env=environ, capture_output=True, text=True, timeout=300
    )


def test_dg_lists_scaffolds_and_checks_the_component(project):
    listed = dg_command(project, "list", "components")
    assert listed.returncode == 0, listed.stderr
    assert "papra_pipeline.PapraComponent" in listed.stdout

    scaffolded = dg_command(project, "scaffold", "defs", "papra_pipeline.PapraComponent", "papra")
    assert scaffolded.returncode == 0, scaffolded.stderr
    defs_yaml = project / "src/my_project/defs/papra/defs.yaml"
    assert "type: papra_pipeline.PapraComponent" in defs_yaml.read_text()
    assert 'api_key: "{{ env.PAPRA_API_KEY }}"' in defs_yaml.read_text()

    checked = dg_command(project, "check", "defs", PAPRA_API_KEY="ppapi_from_the_environment")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    defs_yaml.write_text(
        defs_yaml.read_text().replace('"{{ env.PAPRA_API_KEY }}"', "ppapi_pasted_by_mistake")
    )
    refused = dg_command(project, "check", "defs")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "api_key must name an environment variable, like '{{ env.PAPRA_API_KEY }}'" in output
    assert "ppapi_pasted_by_mistake" not in output.split("api_key must name")[1]


def scaffold_yaml(project: Path, **attributes: str) -> Path:
    """What ``dg scaffold defs`` writes (the scaffolder itself), then the attributes changed."""
    from dagster.components import ScaffoldRequest

    from papra_pipeline.defs.component import PapraScaffolder

    target = project / "src/my_project/defs/papra"
    PapraScaffolder().scaffold(
        ScaffoldRequest(
            type_name="papra_pipeline.PapraComponent",
            target_path=target,
            scaffold_format="yaml",
            project_root=project,
            params=None,
        )
    )
    lines = (target / "defs.yaml").read_text().splitlines()
    for name, value in attributes.items():
        lines = [f"  {name}: {value}" if line.startswith(f"  {name}:") else line for line in lines]
    (target / "defs.yaml").write_text("\n".join(lines) + "\n")
    return target


def load_project(project: Path, monkeypatch) -> dg.Definitions:
    monkeypatch.syspath_prepend(str(project / "src"))
    for module in [m for m in sys.modules if m == "my_project" or m.startswith("my_project.")]:
        monkeypatch.delitem(sys.modules, module)
    return dg.load_from_defs_folder(path_within_project=project / "src/my_project")


def test_the_scaffolded_yaml_loads_every_definition_and_its_options_reach_the_runs(
    project, tmp_path, monkeypatch
):
    fake = FakePapra(auto_extract=True)
    populate(fake, organizations=2, documents=15, seed=4)
    chosen = fake.list_organizations()[0]["id"]
    db = tmp_path / "from-yaml.duckdb"
    scaffold_yaml(
        project,
        duckdb_path=str(db),
        organizations=f"[{chosen}]",
        content="false",
        sensors="false",
    )
    with serve(fake) as url:
        for name in ("PAPRA_EMAIL", "PAPRA_PASSWORD", "PAPRA_DUCKDB_PATH"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PAPRA_API_URL", url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        defs = load_project(project, monkeypatch)
        repository = defs.get_repository_def()
        assert len(repository.asset_graph.get_all_asset_keys()) == 14
        assert {s.name for s in repository.schedule_defs} >= {"papra_full_sync_schedule"}
        assert repository.sensor_defs == []  # sensors: false
        papra = defs.resources["papra"]
        assert papra.api_key == dg.EnvVar("PAPRA_API_KEY")  # the name, never the value
        with dg.DagsterInstance.ephemeral() as instance:
            result = defs.resolve_job_def("papra_full_sync_job").execute_in_process(
                instance=instance
            )
    assert result.success
    with Warehouse(db).read() as con:
        organizations = con.execute("SELECT DISTINCT organization_id FROM documents").fetchall()
        stored_text = con.execute("SELECT count(content) FROM documents").fetchall()[0][0]
    assert organizations == [(chosen,)]
    assert stored_text == 0  # content: false


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("api_key", "ppapi_pasted_by_mistake"),
        ("password", "hunter2"),
        ("email", "me@example.com"),
        ("api_key", "{{ env.PAPRA_API_KEY }}-suffix"),
    ],
)
def test_a_login_field_must_be_a_reference(field, written, monkeypatch):
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_x")
    with pytest.raises(Exception, match="must name an environment variable") as raised:
        PapraComponent.from_attributes_dict(attributes={field: written})
    assert written not in str(raised.value).split("must name an environment variable")[1]


def test_references_in_either_form_keep_the_variable_name(monkeypatch):
    component = PapraComponent.from_attributes_dict(
        attributes={"api_key": "{{ env.MY_PAPRA_KEY }}", "password": "{{ env('MY_PASSWORD') }}"}
    )
    assert (component.api_key, component.password) == ("MY_PAPRA_KEY", "MY_PASSWORD")


def test_the_python_way_merges_into_an_existing_project(monkeypatch):
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_from_the_environment")

    @dg.asset
    def my_table() -> None: ...

    from papra_pipeline.defs import build_definitions, with_writer_pool

    merged = dg.Definitions.merge(dg.Definitions(assets=[my_table]), build_definitions())
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"my_table", "papra_documents", "papra_organization_statistics"} <= keys
    # A project with its own executor keeps it, wrapped so the pool's slot is made first.
    merged = dg.Definitions.merge(
        dg.Definitions(assets=[my_table]),
        build_definitions(executor=with_writer_pool(dg.in_process_executor)),
    )
    assert merged.executor.name == "in_process"


def test_the_readme_yaml_loads(monkeypatch):
    import re

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    one, named = [
        yaml.safe_load(y)["attributes"]
        for y in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if "PapraComponent" in y
    ]
    monkeypatch.setenv("PAPRA_API_KEY", "ppapi_from_the_environment")
    component = PapraComponent.from_attributes_dict(attributes=one)
    assert component.api_key == "PAPRA_API_KEY" and component.organizations == []
    monkeypatch.setenv("WORK_PAPRA_KEY", "ppapi_of_work")
    component = PapraComponent.from_attributes_dict(attributes=named)
    assert component.name == "work" and component.api_key == "WORK_PAPRA_KEY"


def test_sensors_keep_to_the_organizations_the_deployment_syncs(fake, papra_url):
    from papra_pipeline.defs.resources import PapraResource
    from papra_pipeline.defs.sensors import build_change_sensor

    chosen = sorted(org["id"] for org in fake.list_organizations())[0]
    papra = PapraResource(base_url=papra_url, api_key=fake.api_key, organization_ids=[chosen])
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"papra": papra})
        [request] = build_change_sensor(60)(context).run_requests
    assert request.run_config["ops"]["papra_sync"]["config"]["organization_ids"] == [chosen]
