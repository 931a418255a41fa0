"""Freshness: when syncs stop, the synced tables show as failing, evaluated the way the daemon
of ``dg dev`` evaluates them (one iteration of Dagster's freshness daemon)."""

from __future__ import annotations

import sys
from datetime import timedelta

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.freshness import FreshnessDaemon
from dagster._time import get_current_datetime

from papra_pipeline.defs.assets import SYNCED_TABLES
from tests.defs.conftest import run_job

# A module holding definitions the workspace loads in process: the conftest's, after a sync.
LOCATION = "tests.defs.freshness_location"


def freshness_states(instance: dg.DagsterInstance, at) -> dict[str, FreshnessState]:
    """Run the freshness daemon once at time ``at``; the state of each synced table."""
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name=LOCATION)
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin))
    with freeze_time(at), WorkspaceProcessContext(instance, target) as workspace:
        list(FreshnessDaemon().run_iteration(workspace))
    keys = [dg.AssetKey(t.asset) for t in SYNCED_TABLES]
    records = instance.get_freshness_state_records(keys)
    return {key.to_user_string(): records[key].freshness_state for key in keys}


def test_synced_tables_pass_after_a_sync_and_fail_once_syncs_stop(defs, instance, monkeypatch):
    import tests.defs.freshness_location as location

    monkeypatch.setattr(location, "defs", defs, raising=False)
    assert run_job(defs, "papra_full_sync_job", instance).success
    synced = get_current_datetime()

    fresh = freshness_states(instance, synced + timedelta(minutes=30))
    stale = freshness_states(instance, synced + timedelta(hours=3))  # the policy allows 2

    assert set(fresh.values()) == {FreshnessState.PASS}
    assert set(stale.values()) == {FreshnessState.FAIL}


def test_the_window_is_papra_freshness_hours(defs):
    graph = defs.get_repository_def().asset_graph
    for t in SYNCED_TABLES:
        policy = graph.get(dg.AssetKey(t.asset)).freshness_policy
        assert policy.fail_window.to_timedelta() == timedelta(hours=2), t.asset
