"""A known key and password never reach stdout, stderr, logs, Dagster's run storage and event
log, or the DuckDB file; a key is not sent over plain http to a host that is not loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from papra_pipeline.client import PapraClient
from papra_pipeline.defs.resources import PapraResource
from papra_pipeline.testing import serve
from tests.reliability.conftest import PASSWORD, cli_env, make_fake, record, run_cli


def needles(key: str, password: str) -> list[bytes]:
    """The secrets, and pieces long enough to be unmistakable (a truncated log line)."""
    body = key.removeprefix("ppapi_")
    return [s.encode() for s in (key, body[:16], body[-16:], password, password[:14])]


def hits(blob: bytes, patterns: list[bytes]) -> list[bytes]:
    return [p for p in patterns if p in blob]


def test_cli_sync_with_debug_logging_leaks_nothing(tmp_path):
    fake = make_fake(password=PASSWORD)
    db = tmp_path / "papra.duckdb"
    with serve(fake) as url:
        env = cli_env(fake, url, db, PAPRA_EMAIL=fake.email, PAPRA_PASSWORD=PASSWORD)
        runs = [run_cli(["-v", "sync", "--full"], env), run_cli(["-v", "doctor"], env)]
        # A failing run too: errors are where secrets like to hide.
        fake.faults.add("429", route="GET /api/organizations/{org}/documents", retry_after=0)
        runs.append(run_cli(["-v", "sync", "--full"], env))
        bad = "ppapi_" + "Q" * 64
        runs.append(run_cli(["-v", "sync"], {**env, "PAPRA_API_KEY": bad}))
    assert [r.returncode for r in runs] == [0, 0, 1, 1], [r.stderr[-500:] for r in runs]
    patterns = needles(fake.api_key, PASSWORD) + [bad.encode()]
    found = {
        name: hits((r.stdout + r.stderr).encode(), patterns)
        for name, r in zip(("sync", "doctor", "failed sync", "bad key"), runs, strict=True)
    }
    found["duckdb"] = hits(db.read_bytes(), patterns)
    found.update({p.name: hits(p.read_bytes(), patterns) for p in tmp_path.rglob("*.wal")})
    assert not any(found.values()), found
    scanned = sum(len(r.stdout) + len(r.stderr) for r in runs) + db.stat().st_size
    record("secrets_cli", runs=len(runs), bytes_searched=scanned, hits=0)


def test_dagster_run_storage_event_log_and_outputs_leak_nothing(dagster_runs):
    fake = dagster_runs["fake"]
    patterns = needles(fake.api_key, PASSWORD)
    found: dict[str, list[bytes]] = {}
    searched = files = 0
    for path in [*Path(dagster_runs["root"]).rglob("*"), dagster_runs["db"]]:
        if path.is_file():
            blob = path.read_bytes()
            files, searched = files + 1, searched + len(blob)
            if hits(blob, patterns):
                found[str(path)] = hits(blob, patterns)
    for n, (out, err) in enumerate(dagster_runs["outputs"]):
        searched += len(out) + len(err)
        if hits((out + err).encode(), patterns):
            found[f"run {n} output"] = hits((out + err).encode(), patterns)
    assert files > 5 and not found, found
    record("secrets_dagster", files=files, bytes_searched=searched, hits=0)


@pytest.mark.parametrize(
    "url",
    ["http://papra.example.com", "http://10.0.0.5:1221", "http://localhost.evil.example",
     "http://127.0.0.1.nip.io", "http://[2001:db8::1]"],
)
def test_plain_http_to_a_remote_host_is_refused_unless_opted_in(url):
    with pytest.raises(ValueError, match="refusing to send credentials") as refused:
        PapraClient(url, "ppapi_" + "k" * 64)
    assert "k" * 20 not in str(refused.value)
    PapraClient(url, "ppapi_" + "k" * 64, allow_insecure_http=True).close()  # explicit opt-in
    with pytest.raises(ValueError, match="refusing"):
        PapraResource(base_url=url, api_key="ppapi_" + "k" * 64).get_client()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1",
                                 "https://papra.example.com"])
def test_https_and_loopback_are_allowed(url):
    PapraClient(url, "ppapi_" + "k" * 64).close()


def test_the_cli_refuses_before_sending_anything(tmp_path):
    env = {"PAPRA_API_URL": "http://192.0.2.10", "PAPRA_API_KEY": "ppapi_" + "s" * 64,
           "PAPRA_DUCKDB_PATH": str(tmp_path / "p.duckdb")}
    from tests.reliability.conftest import clean_env

    done = run_cli(["sync"], clean_env(**env), timeout=60)
    assert done.returncode == 1 and "refusing to send credentials" in done.stderr
    assert "s" * 20 not in done.stderr + done.stdout
