"""Subscription API and delivery jobs for outbound CRM webhooks.

Wiring (done by ``partner.inbox.routes``): :data:`ENDPOINTS` joins the inbox's route table and OpenAPI
document; :func:`follow` runs after each inbound message is analysed; :func:`job_handlers` adds ``crm.deliver``
to the durable queue's worker. Every route is admin-only: a webhook's secret and its choice of what leaves the
service are the workspace owner's business.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.engine import Connection

from partner.analysis import AnalysedMessage
from partner.crm import deliveries, emit, subscriptions
from partner.crm.delivery import CrmDeliverer
from partner.crm.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryQuery,
    SecretRotate,
    WebhookCreate,
    WebhookDetail,
    WebhookList,
    WebhookUpdate,
)
from partner.inbox.schemas import WorkspaceQuery
from partner.openapi import Endpoint
from partner.worker import JobHandler

WEBHOOKS = "/api/v1/webhooks"
WEBHOOK = WEBHOOKS + r"/{webhook_id:\d+}"
DELIVERY = WEBHOOK + r"/deliveries/{delivery_id:\d+}"
_SIGNING = (
    "Deliveries are POSTs of {id, type, created_at, workspace_id, data}, signed: X-Partner-Signature is "
    "sha256=<hex HMAC-SHA256 of '<X-Partner-Timestamp>.<raw body>'> keyed with the secret."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", WEBHOOKS, subscriptions.list_webhooks, "The workspace's CRM webhooks", "admin", "webhooks",
        query=WorkspaceQuery, response=WebhookList, errors=(404,),
    ),
    Endpoint(
        "POST", WEBHOOKS, subscriptions.create_webhook, "Subscribe a CRM URL to events", "admin", "webhooks",
        body=WebhookCreate, status=201, response=WebhookDetail, errors=(404, 409), description=_SIGNING,
    ),
    Endpoint(
        "GET", WEBHOOK, subscriptions.get_webhook, "One webhook, with its signing secret", "admin", "webhooks",
        response=WebhookDetail, errors=(409,),
    ),
    Endpoint(
        "PATCH", WEBHOOK, subscriptions.update_webhook, "Change a webhook's URL, events or text opt-in; pause or "
        "re-enable it", "admin", "webhooks", body=WebhookUpdate, response=WebhookDetail, errors=(409,),
    ),
    Endpoint(
        "DELETE", WEBHOOK, subscriptions.delete_webhook, "Delete a webhook and its delivery history", "admin",
        "webhooks", status=204,
    ),
    Endpoint(
        "POST", WEBHOOK + "/rotate_secret", subscriptions.rotate_secret, "Replace the signing secret", "admin",
        "webhooks", body=SecretRotate, response=WebhookDetail,
        description="The new secret signs at once; keep_previous_seconds keeps the old one signing alongside "
        "(X-Partner-Signature then carries both, comma-separated) while the CRM switches.",
    ),
    Endpoint(
        "POST", WEBHOOK + "/ping", deliveries.ping_webhook, "Send a ping event to test the receiver", "admin",
        "webhooks", status=202, response=DeliveryOut,
    ),
    Endpoint(
        "GET", WEBHOOK + "/deliveries", deliveries.list_deliveries, "Deliveries, newest first", "admin", "webhooks",
        query=DeliveryQuery, response=DeliveryList,
        description="Keyset-paginated (pass next_cursor back as cursor).",
    ),
    Endpoint(
        "GET", DELIVERY, deliveries.get_delivery, "One delivery with every attempt", "admin", "webhooks",
        response=DeliveryDetail,
    ),
    Endpoint(
        "POST", DELIVERY + "/redeliver", deliveries.redeliver, "Send a delivered or failed event again", "admin",
        "webhooks", status=202, response=DeliveryOut, errors=(409,),
    ),
)  # fmt: skip


def follow(connection: Connection, message: AnalysedMessage) -> None:
    """Runs after each inbound message is analysed, in the analysis transaction."""
    emit.inbound_analysed(connection, message)


def job_handlers(app: web.Application) -> dict[str, JobHandler]:
    return {emit.DELIVER_JOB: CrmDeliverer(app)}
