"""What the client verifies TLS with: the usual trust for https servers and proxies; for a
plain http server, a context that trusts nothing (httpx's default costs ~20 ms of CPU per
client to load, and such a client never speaks TLS). An untrusted certificate is no transient
fault (tests/test_cli_private_ca.py has the CLI's side)."""

from __future__ import annotations

import ssl

import pytest

from papra_pipeline.client import PapraClient, PapraConnectionError
from papra_pipeline.testing import FakePapra, serve
from tests.certificates import private_ca

from .conftest import API_KEY

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def tls_context(client: PapraClient) -> ssl.SSLContext:
    return client._http._transport._pool._ssl_context  # httpx's own transport, not public


def test_a_client_of_an_http_server_loads_no_certificates_and_trusts_none():
    with PapraClient("http://127.0.0.1:1221", API_KEY) as client:
        context = tls_context(client)
        assert context.cert_store_stats()["x509_ca"] == 0
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_client_of_an_https_server_verifies_with_the_usual_certificates():
    with PapraClient("https://papra.example.com", API_KEY) as client:
        assert tls_context(client).cert_store_stats()["x509_ca"] > 0


def test_behind_a_proxy_the_usual_certificates_stay(monkeypatch):
    """The proxy of an http server may itself be reached over https."""
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example.com:3128")
    with PapraClient("http://127.0.0.1:1221", API_KEY) as client:
        assert tls_context(client).cert_store_stats()["x509_ca"] > 0


def test_an_untrusted_certificate_is_asked_once_not_retried(tmp_path, monkeypatch):
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    ca = private_ca(tmp_path)
    fake = FakePapra()
    sleeps: list[float] = []
    with serve(fake, tls=ca.server) as url, PapraClient(
        url, fake.api_key, sleep=sleeps.append
    ) as client:
        with pytest.raises(PapraConnectionError, match="is not trusted") as refused:
            client.list_organizations()
        assert client.stats.snapshot()["requests"] == 1 and sleeps == []
        assert "SSL_CERT_FILE" in str(refused.value) and fake.api_key not in str(refused.value)
