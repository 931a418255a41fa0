"""Imports go one way: settings -> client -> warehouse -> sync -> defs and cli, with webhooks
beside sync. A layer that imports a later one (or the client that pulls in Dagster) fails here,
in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "papra_pipeline"

# What each layer may import from the package, besides itself.
ALLOWED = {
    "settings": set(),
    "client": {"settings"},
    "warehouse": {"settings"},
    "sync": {"settings", "client", "warehouse"},
    "defs": {"settings", "client", "warehouse", "sync"},
    # The webhook receiver and registration: HTTP in, inbox rows out; no sync, no Dagster.
    "webhooks": {"settings", "client", "warehouse"},
    "testing": set(),
    # The dashboard's pages read the readers' file through the warehouse's queries only.
    "dashboard": {"settings", "warehouse"},
}


def package_imports(path: Path) -> set[str]:
    """The papra_pipeline sub-packages a module imports (``__init__`` counts as none)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "papra_pipeline" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_before_it(layer):
    single_module = PACKAGE / f"{layer}.py"
    modules = [single_module] if single_module.exists() else (PACKAGE / layer).rglob("*.py")
    for module in modules:
        upward = package_imports(module) - ALLOWED[layer] - {layer}
        assert not upward, f"{module.relative_to(PACKAGE)} imports {sorted(upward)}"


def loaded_after(imports: str) -> str:
    """Which of dagster, duckdb and pandas a fresh interpreter holds after ``imports``."""
    heavy = "('dagster', 'duckdb', 'pandas')"
    code = f"import sys, {imports}; print([m for m in {heavy} if m in sys.modules])"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_client_stands_alone():
    assert loaded_after("papra_pipeline.client") == "[]"


def test_the_settings_stand_alone():
    assert loaded_after("papra_pipeline.settings") == "[]"


def test_client_warehouse_and_sync_load_without_dagster():
    assert "dagster" not in loaded_after(
        "papra_pipeline.client, papra_pipeline.warehouse, papra_pipeline.sync"
    )


def test_the_webhook_receiver_loads_without_dagster():
    assert "dagster" not in loaded_after("papra_pipeline.webhooks.receiver")


def test_the_command_loads_dagster_duckdb_and_pandas_only_for_the_commands_that_use_them():
    """``papra-pipeline --help``, doctor's HTTP checks and the webhook commands need none of
    them (about 0.2 s of the command's start); a sync loads DuckDB and pandas when it opens the
    warehouse, the demo Dagster."""
    assert loaded_after("papra_pipeline.cli") == "[]"


def test_a_sync_loads_the_warehouse_without_dagster():
    assert loaded_after("papra_pipeline.cli; papra_pipeline.sync.sync") == "['duckdb', 'pandas']"
