"""The deployed topology on loopback, from the files in deploy/: a real PostgreSQL, the code
location (``dagster code-server start``), ``dagster-webserver``, ``dagster-daemon run`` and the
webhook receiver, each a process of its own, against a fake Papra served by this process.

tests/deploy uses it to assert what issue 21 asks; ``make bench`` uses it to measure the
delivery-to-row time (benchmarks/deployed.py). Intervals are shortened by the dagster.yaml this
writes over deploy's (run monitoring, run queue), and by the PAPRA_* variables of the processes.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from papra_pipeline.client import PapraClient
from papra_pipeline.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "papra_pipeline"
REPOSITORY = "__repository__"
WEBHOOK_SECRET = "deployed-topology-webhook-secret-0123456789"
# Faster than deploy/dagster.yaml so the whole test fits in minutes; everything else as shipped.
FAST_INSTANCE = {
    "run_monitoring": {
        "poll_interval_seconds": 2,
        "free_slots_after_run_end_seconds": 1,
        "start_timeout_seconds": 120,
    },
    "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise FileNotFoundError(f"{name} not found: run .ci/install-postgres")
    return found


class Postgres:
    """A throwaway cluster in a temporary folder, on a loopback port, trust authentication.

    PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` user."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.user = "dagster"
        as_root = os.geteuid() == 0
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        folder.mkdir(parents=True, exist_ok=True)
        if as_root:
            shutil.chown(folder, "postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                  "-E", "UTF8", "--no-sync")

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
                  "-o", options, "-w", "-t", "120", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        self._run(postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", self.user, name)


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            # A session of its own: SIGKILL to the group takes the run processes with it.
            self.popen = subprocess.Popen(
                self.args, env=self.env, cwd=self.log.parent, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Deployment:
    """Everything started; ``graphql`` talks to the webserver."""

    root: Path
    env: dict[str, str]
    postgres: Postgres
    processes: dict[str, Process] = field(default_factory=dict)
    webserver_url: str = ""
    receiver_url: str = ""

    @property
    def duckdb_path(self) -> Path:
        return Path(self.env["PAPRA_DUCKDB_PATH"])

    def graphql(self, query: str, **variables: Any) -> dict:
        # Right after a PostgreSQL restart the webserver answers 500 until it reconnects.
        for attempt in range(30):
            try:
                response = httpx.post(f"{self.webserver_url}/graphql",
                                      json={"query": query, "variables": variables}, timeout=60)
                response.raise_for_status()
                break
            except (httpx.TransportError, httpx.HTTPStatusError):
                if attempt == 29:
                    raise
                time.sleep(2)
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in self.processes.values())

    def restart(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes[name]
        process.kill(sig)
        process.start()
        self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        checks = {
            "code-location": self._code_location_ready,
            "webserver": self._webserver_ready,
            "receiver": self._receiver_ready,
            "daemon": lambda: True,
        }
        wait_for(checks[name], 240, f"{name} to be ready\n{self.logs()}")

    def wait_loaded(self) -> None:
        """The webserver sees the code location's definitions (not a load error)."""
        query = """query($s: RepositorySelector!) { repositoryOrError(repositorySelector: $s) {
            __typename ... on PythonError { message } ... on RepositoryNotFoundError { message }
        } }"""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}

        def loaded() -> bool:
            answer = self.graphql(query, s=selector)["repositoryOrError"]
            if answer["__typename"] == "PythonError":
                raise AssertionError(f"the code location failed to load: {answer['message']}")
            return answer["__typename"] == "Repository"

        wait_for(loaded, 120, f"the definitions in the webserver\n{self.logs()}")

    def _code_location_ready(self) -> bool:
        done = subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-p", self.env["DAGSTER_CODE_PORT"]],
            env=self.env, capture_output=True, timeout=60,
        )
        return done.returncode == 0

    def _webserver_ready(self) -> bool:
        try:
            return httpx.get(f"{self.webserver_url}/server_info", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def _receiver_ready(self) -> bool:
        try:
            return httpx.get(f"{self.receiver_url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    # GraphQL helpers -----------------------------------------------------------------

    def set_instigator(self, kind: str, name: str, running: bool) -> None:
        """Start or stop a schedule or sensor through the webserver, as the UI does."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
        if kind == "schedule" and running:
            mutation = ("mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) "
                        "{ __typename ... on PythonError { message } } }")
            answer = self.graphql(mutation, s={**selector, "scheduleName": name})
        elif kind == "schedule":
            query = ("query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) "
                     "{ ... on Schedule { scheduleState { id status } } } }")
            mutation = ("mutation($id: String!) { stopRunningSchedule(id: $id) "
                        "{ __typename ... on PythonError { message } } }")

            def stopped() -> bool:
                # A tick being evaluated while the stop lands writes its state back as
                # running (seen with Dagster 1.13): stop again until it stays stopped.
                state = self.graphql(query, s={**selector, "scheduleName": name})
                state = state["scheduleOrError"]["scheduleState"]
                if state["status"] == "STOPPED":
                    time.sleep(5)
                    state = self.graphql(query, s={**selector, "scheduleName": name})
                    return state["scheduleOrError"]["scheduleState"]["status"] == "STOPPED"
                self.graphql(mutation, id=state["id"])
                return False

            wait_for(stopped, 120, f"schedule {name} to stay stopped")
            return
        else:
            verb = "startSensor" if running else "resetSensor"
            mutation = (f"mutation($s: SensorSelector!) {{ {verb}(sensorSelector: $s) "
                        "{ __typename ... on PythonError { message } } }")
            answer = self.graphql(mutation, s={**selector, "sensorName": name})
        [result] = answer.values()
        if result["__typename"] not in ("ScheduleStateResult", "Sensor"):
            raise AssertionError(f"{kind} {name}: {result['message']}")

    def launch(self, job: str, run_config: dict | None = None, tags: dict | None = None) -> str:
        mutation = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } }
            ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } }
        } }"""
        params = {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                         "jobName": job},
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v}
                                           for k, v in (tags or {}).items()]},
        }
        result = self.graphql(mutation, p=params)["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise AssertionError(f"launchRun: {result}")
        return result["run"]["runId"]

    def runs(self) -> list[dict]:
        query = """{ runsOrError(limit: 500) { ... on Runs { results {
            runId jobName status creationTime startTime endTime tags { key value } } } } }"""
        results = self.graphql(query)["runsOrError"]["results"]
        for run in results:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return results

    def run(self, run_id: str) -> dict:
        return next(r for r in self.runs() if r["runId"] == run_id)

    def check_alive(self) -> None:
        for process in self.processes.values():
            if process.popen and process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited\n{process.tail()}")

    def wait_run(self, run_id: str, timeout: float = 900) -> dict:
        finished = {"SUCCESS", "FAILURE", "CANCELED"}

        def done() -> dict | None:
            self.check_alive()
            run = self.run(run_id)
            return run if run["status"] in finished else None

        return wait_for(done, timeout, f"run {run_id} to finish\n{self.logs()}", every=1)


def instance_yaml(home: Path) -> None:
    """deploy/dagster.yaml, as the image lays it out, with the test's shorter intervals."""
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    for key, values in FAST_INSTANCE.items():
        section = config.setdefault(key, {})
        for name, value in values.items():
            if isinstance(value, dict):
                section.setdefault(name, {}).update(value)
            else:
                section[name] = value
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@contextlib.contextmanager
def deployed(papra_url: str, api_key: str, **papra_env: str) -> Iterator[Deployment]:
    """Postgres and the four processes of deploy/, started; stopped and removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="papra-deployed-"))
    os.chmod(root, 0o755)  # the postgres user walks into its folder
    try:
        image_root = root / "image"
        steps = subprocess.run(
            [str(REPO / "deploy/image-steps"), "layout", "verify"],
            env={**os.environ, "PAPRA_IMAGE_ROOT": str(image_root), "PYTHON": sys.executable},
            capture_output=True, text=True, timeout=300,
        )
        assert steps.returncode == 0, steps.stdout + steps.stderr
        home = image_root / "opt/dagster/home"
        data = image_root / "data"
        instance_yaml(home)
        postgres = Postgres(root / "postgres")
        postgres.start()
        postgres.create_database("dagster")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPRA_", "DAGSTER_"))}
        env |= {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_USER": postgres.user,
            "DAGSTER_PG_PASSWORD": "unused-with-trust",
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_CODE_HOST": "127.0.0.1",
            "DAGSTER_CODE_PORT": str(free_port()),
            "DAGSTER_COMPUTE_LOGS_DIR": str(data / "compute_logs"),
            "PAPRA_API_URL": papra_url,
            "PAPRA_API_KEY": api_key,
            "PAPRA_DUCKDB_PATH": str(data / "papra.duckdb"),
            "PAPRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **papra_env,
        }
        deployment = Deployment(root, env, postgres)
        web_port, receiver_port = free_port(), free_port()
        deployment.webserver_url = f"http://127.0.0.1:{web_port}"
        deployment.receiver_url = f"http://127.0.0.1:{receiver_port}"
        workspace = str(home / "workspace.yaml")
        commands = {
            "code-location": [str(BIN / "dagster"), "code-server", "start", "-m",
                              "papra_pipeline.definitions", "-h", "127.0.0.1",
                              "-p", env["DAGSTER_CODE_PORT"]],
            "webserver": [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
                          "-w", workspace],
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w", workspace],
            "receiver": [str(BIN / "papra-pipeline"), "webhooks", "serve", "--host", "127.0.0.1",
                         "--port", str(receiver_port)],
        }
        for name, args in commands.items():
            deployment.processes[name] = Process(name, args, env, root / f"{name}.log")
        try:
            for name in commands:
                deployment.processes[name].start()
                if name == "code-location":  # the others connect to it
                    deployment.wait_ready(name)
            for name in commands:
                deployment.wait_ready(name)
            deployment.wait_loaded()
            yield deployment
        finally:
            for process in reversed(deployment.processes.values()):
                process.stop()
            with contextlib.suppress(Exception):
                postgres.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stored_content(path: Path, document_id: str) -> str | None:
    if not path.exists():
        return None
    try:
        with Warehouse(path, lock_timeout=1).read() as con:
            query = "SELECT content FROM documents WHERE id = ?"
            row = con.execute(query, [document_id]).fetchone()
    except Exception:  # being replaced by a publish right now: look again
        return None
    return row[0] if row else None


@dataclass
class Delivery:
    edited: float  # epoch seconds of the edit, when Papra sends its webhook
    seconds: float  # from the edit to the new text in the readers' file


def deliveries_to_rows(deployment: Deployment, client: PapraClient, org: str,
                       documents: list[str], label: str) -> list[Delivery]:
    """Edit each document in turn; time from the edit (Papra's delivery) to its row in the
    readers' file, through the receiver, the sensor and a quick-sync run."""
    deliveries = []
    for document in documents:
        text = f"{label} {document} {time.time()}"
        edited, started = time.time(), time.monotonic()
        client.update_document(org, document, content=text)
        wait_for(lambda d=document, t=text: stored_content(deployment.duckdb_path, d) == t, 300,
                 f"the edit of {document} in the readers' file\n{deployment.logs()}", every=0.2)
        deliveries.append(Delivery(edited, time.monotonic() - started))
    return deliveries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def to_json(figures: dict) -> str:
    return json.dumps(figures, indent=2, sort_keys=True)
