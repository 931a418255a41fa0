"""``papra-pipeline sync`` against an https Papra whose certificate a private CA signed: an
untrusted certificate fails at once with one line naming SSL_CERT_FILE; with SSL_CERT_FILE
naming the CA, the sync goes through."""

from __future__ import annotations

import pytest

from papra_pipeline.cli import main
from papra_pipeline.testing import FakePapra, populate, serve
from papra_pipeline.warehouse import Warehouse
from tests.certificates import private_ca

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")


@pytest.fixture
def https_papra(monkeypatch, tmp_path):
    """An https fake Papra on loopback; yields the private CA's certificate file."""
    for name in (*PROXY_VARIABLES, "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    ca = private_ca(tmp_path)
    fake = FakePapra()
    populate(fake, organizations=1, documents=12, tags=2, custom_properties=1, seed=3)
    with serve(fake, tls=ca.server) as url:
        assert url.startswith("https://127.0.0.1:")
        monkeypatch.setenv("PAPRA_API_URL", url)
        monkeypatch.setenv("PAPRA_API_KEY", fake.api_key)
        monkeypatch.setenv("PAPRA_DUCKDB_PATH", str(tmp_path / "papra.duckdb"))
        yield ca.ca_file


def test_an_untrusted_certificate_fails_at_once_with_one_line_naming_ssl_cert_file(
    https_papra, capsys, caplog
):
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "certificate" in errors[0] and "is not trusted" in errors[0], errors[0]
    assert "SSL_CERT_FILE" in errors[0], errors[0]
    assert "retrying" not in caplog.text + err  # not a transient fault: asked once


def test_with_ssl_cert_file_naming_the_private_ca_the_sync_succeeds(
    https_papra, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("SSL_CERT_FILE", str(https_papra))
    assert main(["sync"]) == 0, capsys.readouterr().err
    with Warehouse(tmp_path / "papra.duckdb").read() as con:
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == 12


def test_an_unreadable_ssl_cert_file_is_one_line_too(https_papra, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load the CA certificates named by SSL_CERT_FILE="), err
    assert len(err.strip().splitlines()) == 1, err
