"""A run launcher whose runs the daemon's run monitoring can check (deploy/dagster.yaml).

Dagster's ``DefaultRunLauncher`` starts each run in a process of the code location's gRPC
server, and cannot tell the daemon whether that process still lives. The server itself fails
a run whose process died while it keeps running; but when the server dies with its runs (a
SIGKILL, an OOM kill, a restarted container or unit), nothing is left to notice: the run
would stay "started" for ever and keep the ``papra_duckdb`` slot, so no sync would run again.

This launcher answers the health check by asking the run's code server whether it is
executing the run. A server that answers no has lost it: the run is failed and its slot
freed (``free_slots_after_run_end_seconds``). A server that does not answer (restarting) gets
the benefit of the doubt until it does.
"""

from __future__ import annotations

from dagster import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import deserialize_value


class CheckedRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` with a run-worker health check for run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # The launcher records the server of each run in a tag; this reads it back.
        client = self._get_grpc_client_for_termination(run.run_id)
        if client is None:  # finished meanwhile, or not launched by a gRPC server
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no code server to ask")
        try:
            # ``dagster code-server start`` is a proxy that forwards this call (and not
            # GetCurrentRuns) to the server executing the runs: True while it executes the run.
            answer = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id))
            executing = deserialize_value(answer, CanCancelExecutionResult).can_cancel
        except Exception as exc:  # unreachable: restarting, or gone for now
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"code server unreachable ({type(exc).__name__})"
            )
        if executing:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            "the code server no longer executes this run: it was restarted, or the run's "
            "process died with it",
        )
