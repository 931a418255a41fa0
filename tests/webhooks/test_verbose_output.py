"""``-v`` (log each request) on the commands that log in, as the README's webhook section runs
them: no credential in the output, the session Papra hands out included."""

from __future__ import annotations

import pytest

from papra_pipeline.testing import FakePapra, serve
from tests.reliability.conftest import cli_env, run_cli

from .helpers import SECRET

pytestmark = pytest.mark.slow

RECEIVER_URL = "http://127.0.0.1:8787/webhooks/papra"


def test_debug_logging_shows_no_key_password_secret_or_session(tmp_path):
    fake = FakePapra(seed=5)
    fake.create_organization("One")
    fake.webhooks.allowed_hostnames = {"127.0.0.1"}
    with serve(fake) as url:
        env = cli_env(
            fake,
            url,
            tmp_path / "papra.duckdb",
            PAPRA_EMAIL=fake.email,
            PAPRA_PASSWORD=fake.password,
            PAPRA_WEBHOOK_SECRET=SECRET,
        )
        runs = [
            run_cli(["-v", "webhooks", "register", "--url", RECEIVER_URL], env),
            run_cli(["-v", "webhooks", "list"], env),
            run_cli(["-v", "webhooks", "unregister", "--url", RECEIVER_URL], env),
            run_cli(["-v", "doctor"], env),
        ]
    fake.webhooks.close()
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr[-500:] for r in runs]
    printed = "".join(r.stdout + r.stderr for r in runs)
    assert "POST /api/auth/sign-in/email" in printed  # it did log each request
    sessions = [session.token for session in fake.sessions.values()]
    assert sessions, "the commands logged in"
    for credential in (fake.api_key, fake.password, SECRET, *sessions):
        assert credential not in printed
    assert "session_token=" not in printed
