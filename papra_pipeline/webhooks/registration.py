"""Register the receiver on Papra (``webhooks register | unregister | list``).

Webhook routes only accept a logged-in session (PAPRA_EMAIL / PAPRA_PASSWORD). Registering is
idempotent: a webhook with the same URL is updated (name, secret, enabled), never duplicated.
Papra 26.6.1 answers 500 to an update that changes the events, so a webhook missing some of
the five events is deleted and created again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from papra_pipeline.client import WEBHOOK_EVENTS, PapraClient, Webhook

DEFAULT_NAME = "papra-pipeline"


@dataclass(frozen=True)
class Registration:
    organization_id: str
    webhook: Webhook
    action: str  # created | updated | recreated


def _organizations(client: PapraClient, organization_ids: Sequence[str] | None) -> list[str]:
    if organization_ids:
        return list(dict.fromkeys(organization_ids))
    return [org.id for org in client.list_organizations()]


def register(
    client: PapraClient,
    url: str,
    secret: str,
    organization_ids: Sequence[str] | None = None,
    *,
    name: str = DEFAULT_NAME,
) -> list[Registration]:
    """Make sure each organization has exactly one webhook to ``url`` for all five events."""
    done = []
    for org in _organizations(client, organization_ids):
        same_url = [hook for hook in client.list_webhooks(org) if hook.url == url]
        for extra in same_url[1:]:
            client.delete_webhook(org, extra.id)
        if not same_url:
            hook = client.create_webhook(org, name=name, url=url, secret=secret)
            done.append(Registration(org, hook, "created"))
        elif set(same_url[0].events or ()) != set(WEBHOOK_EVENTS):
            client.delete_webhook(org, same_url[0].id)
            hook = client.create_webhook(org, name=name, url=url, secret=secret)
            done.append(Registration(org, hook, "recreated"))
        else:
            hook = client.update_webhook(
                org, same_url[0].id, name=name, secret=secret, enabled=True
            )
            done.append(Registration(org, hook, "updated"))
    return done


def unregister(
    client: PapraClient, url: str, organization_ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Delete every webhook to ``url``; returns (organization, webhook id) of each."""
    deleted = []
    for org in _organizations(client, organization_ids):
        for hook in client.list_webhooks(org):
            if hook.url == url:
                client.delete_webhook(org, hook.id)
                deleted.append((org, hook.id))
    return deleted


def list_webhooks(
    client: PapraClient, organization_ids: Sequence[str] | None = None
) -> list[Webhook]:
    return [
        hook
        for org in _organizations(client, organization_ids)
        for hook in client.list_webhooks(org)
    ]
