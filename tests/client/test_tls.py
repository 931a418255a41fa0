"""What the client verifies TLS with: the usual trust for https servers and proxies; for a
plain http server, a context that trusts nothing (httpx's default costs ~20 ms of CPU per
client to load, and such a client never speaks TLS)."""

from __future__ import annotations

import ssl

import pytest

from papra_pipeline.client import PapraClient

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
