"""Papra HTTP API client: ``PapraClient``, its typed models and its exceptions.

Usage::

    with PapraClient.from_env() as client:
        for org in client.list_organizations():
            for document in client.iter_documents(org.id):
                ...
"""

from .client import UNSET, ClientStats, PapraClient
from .errors import (
    PapraAuthenticationError,
    PapraConflictError,
    PapraConnectionError,
    PapraError,
    PapraForbiddenError,
    PapraNotFoundError,
    PapraOrganizationAccessError,
    PapraPayloadTooLargeError,
    PapraRateLimitError,
    PapraResponseError,
    PapraServerError,
    PapraSessionRequiredError,
    PapraTimeoutError,
    PapraUnsafeWebhookUrlError,
    PapraValidationError,
)
from .models import (
    Activity,
    ApiKey,
    CustomPropertyDefinition,
    CustomPropertyOption,
    Document,
    DocumentCustomProperty,
    DocumentPage,
    DocumentRef,
    ExtendedTimestamp,
    Organization,
    OrganizationStatistics,
    SelectOptionValue,
    ServerConfig,
    SessionUser,
    Tag,
    TaggingRule,
    TaskId,
    UntypedValue,
    UserRef,
)
from .paging import PagesKeptComing, walk_pages
from .webhooks import (
    WEBHOOK_EVENTS,
    Delivery,
    InvalidDeliveryError,
    Webhook,
    parse_delivery,
    signature,
)

__all__ = [
    "UNSET",
    "WEBHOOK_EVENTS",
    "Activity",
    "ApiKey",
    "ClientStats",
    "CustomPropertyDefinition",
    "CustomPropertyOption",
    "Document",
    "DocumentCustomProperty",
    "DocumentPage",
    "Delivery",
    "DocumentRef",
    "ExtendedTimestamp",
    "InvalidDeliveryError",
    "Organization",
    "OrganizationStatistics",
    "PagesKeptComing",
    "PapraAuthenticationError",
    "PapraClient",
    "PapraConflictError",
    "PapraConnectionError",
    "PapraError",
    "PapraForbiddenError",
    "PapraNotFoundError",
    "PapraOrganizationAccessError",
    "PapraPayloadTooLargeError",
    "PapraRateLimitError",
    "PapraResponseError",
    "PapraServerError",
    "PapraSessionRequiredError",
    "PapraTimeoutError",
    "PapraUnsafeWebhookUrlError",
    "PapraValidationError",
    "SelectOptionValue",
    "ServerConfig",
    "SessionUser",
    "Tag",
    "TaggingRule",
    "TaskId",
    "UntypedValue",
    "UserRef",
    "Webhook",
    "parse_delivery",
    "signature",
    "walk_pages",
]
