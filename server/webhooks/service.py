"""WebhooksService: subscriptions (owner/admin write, members read), delivery history and test dispatches."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from astra.v1 import webhooks_pb2, webhooks_pb2_grpc
from server import events
from server.audit.log import record
from server.context import current_principal
from server.deps import Deps
from server.errors import InvalidArgument, NotFound
from server.ids import new_id
from server.paging import after, keyset, page_limit
from server.timestamps import to_timestamp
from server.webhooks import delivery, signing, store
from server.webhooks.validate import check_description, check_events, check_url
from server.workspaces.access import require_writer

DELIVERY_STATUSES = ("delivered", "pending", "failed")


def webhook_message(row: dict[str, Any], with_secret: bool = False) -> webhooks_pb2.Webhook:
    return webhooks_pb2.Webhook(
        id=row["id"],
        url=row["url"],
        events=row["events"],
        description=row["description"],
        enabled=row["enabled"],
        secret=row["secret"] if with_secret else "",
        created_at=to_timestamp(row["created_at"]),
        updated_at=to_timestamp(row["updated_at"]),
        disabled_reason=row["disabled_reason"],
    )


def delivery_message(row: dict[str, Any]) -> webhooks_pb2.WebhookDelivery:
    return webhooks_pb2.WebhookDelivery(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        attempt=row["attempt"],
        status_code=row["status_code"],
        latency_ms=row["latency_ms"],
        response_excerpt=row["response_excerpt"],
        error=row["error"],
        next_retry_at=to_timestamp(row["next_retry_at"]),
        delivered_at=to_timestamp(row["delivered_at"]),
        created_at=to_timestamp(row["created_at"]),
    )


class WebhooksService(webhooks_pb2_grpc.WebhooksServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps

    async def _get(self, conn: Any, workspace_id: str, webhook_id: str, lock: bool = False) -> dict[str, Any]:
        row = await store.get(conn, workspace_id, webhook_id, lock)
        if row is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return row

    @staticmethod
    async def _audit(conn: Any, action: str, webhook_id: str, details: dict[str, Any]) -> None:
        """Webhook changes go to the audit log in the change's transaction; the secret never does."""
        principal = current_principal()
        await record(
            conn,
            actor=principal.user_id,
            action=action,
            target_user_id=principal.user_id,
            workspace_id=principal.workspace_id,
            details=details,
            target=webhook_id,
        )

    async def CreateWebhook(
        self, request: webhooks_pb2.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.CreateWebhookResponse:
        principal = current_principal()
        require_writer(principal.role, "create webhooks")
        url = await check_url(request.url, self.deps.settings.allow_private_urls)
        event_types = check_events(list(request.events))
        description = check_description(request.description)
        secret = signing.check_secret(request.secret) if request.secret else signing.new_secret()
        enabled = request.enabled if request.HasField("enabled") else True
        async with self.deps.db.transaction() as conn:
            row = await store.create(
                conn, principal.workspace_id, url, event_types, description, enabled, secret, principal.user_id
            )
            await self._audit(
                conn, "webhook.create", row["id"], {"url": url, "events": event_types, "enabled": enabled}
            )
        return webhooks_pb2.CreateWebhookResponse(webhook=webhook_message(row, with_secret=True))

    async def ListWebhooks(
        self, request: webhooks_pb2.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.ListWebhooksResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        scope = f"webhooks:{principal.workspace_id}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            rows = await store.list_page(conn, principal.workspace_id, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return webhooks_pb2.ListWebhooksResponse(webhooks=[webhook_message(r) for r in rows], next_page_token=token)

    async def GetWebhook(
        self, request: webhooks_pb2.GetWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.GetWebhookResponse:
        principal = current_principal()
        async with self.deps.db.connection() as conn:
            row = await self._get(conn, principal.workspace_id, request.webhook_id)
        return webhooks_pb2.GetWebhookResponse(webhook=webhook_message(row))

    async def UpdateWebhook(
        self, request: webhooks_pb2.UpdateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.UpdateWebhookResponse:
        principal = current_principal()
        require_writer(principal.role, "change webhooks")
        url = await check_url(request.url, self.deps.settings.allow_private_urls)
        event_types = check_events(list(request.events))
        description = check_description(request.description)
        if request.secret and not request.rotate_secret:
            raise InvalidArgument("secret is only accepted with rotateSecret: true")
        secret = None
        if request.rotate_secret:
            secret = signing.check_secret(request.secret) if request.secret else signing.new_secret()
        async with self.deps.db.transaction() as conn:
            current = await self._get(conn, principal.workspace_id, request.webhook_id, lock=True)
            enabled = request.enabled if request.HasField("enabled") else current["enabled"]
            row = await store.update(conn, current["id"], url, event_types, description, enabled, secret)
            details = {"url": url, "events": event_types, "enabled": enabled, "secretRotated": secret is not None}
            await self._audit(conn, "webhook.update", current["id"], details)
        return webhooks_pb2.UpdateWebhookResponse(webhook=webhook_message(row, with_secret=secret is not None))

    async def DeleteWebhook(
        self, request: webhooks_pb2.DeleteWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.DeleteWebhookResponse:
        principal = current_principal()
        require_writer(principal.role, "delete webhooks")
        async with self.deps.db.transaction() as conn:
            if not await store.delete(conn, principal.workspace_id, request.webhook_id):
                raise NotFound(f"webhook {request.webhook_id} not found")
            await self._audit(conn, "webhook.delete", request.webhook_id, {})
        return webhooks_pb2.DeleteWebhookResponse()

    async def ListWebhookDeliveries(
        self, request: webhooks_pb2.ListWebhookDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.ListWebhookDeliveriesResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        if request.status and request.status not in DELIVERY_STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        scope = f"webhook-deliveries:{request.webhook_id}:{request.status}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        async with self.deps.db.connection() as conn:
            await self._get(conn, principal.workspace_id, request.webhook_id)
            rows = await store.deliveries_page(conn, request.webhook_id, request.status, after(cursor), limit + 1)
        rows, token = self.deps.pages.page(scope, rows, limit, keyset("created_at"))
        return webhooks_pb2.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(r) for r in rows], next_page_token=token
        )

    async def TestWebhook(
        self, request: webhooks_pb2.TestWebhookRequest, context: grpc.aio.ServicerContext
    ) -> webhooks_pb2.TestWebhookResponse:
        principal = current_principal()
        require_writer(principal.role, "test webhooks")
        event_type = request.event_type or "webhook.test"
        if event_type not in events.EVENT_TYPES:
            raise InvalidArgument(f"eventType must be one of {', '.join(events.EVENT_TYPES)}")
        data = (
            json_format.MessageToDict(request.data)
            if request.HasField("data")
            else {"webhookId": request.webhook_id, "message": "A test event from Astra."}
        )
        async with self.deps.db.transaction() as conn:
            webhook = await self._get(conn, principal.workspace_id, request.webhook_id)
            event_id = await _record_test_event(conn, principal.workspace_id, event_type, data)
            payload = events.envelope(event_type, data)
        attempt = await delivery.send(
            webhook["url"],
            webhook["secret"],
            event_id,
            payload,
            self.deps.settings.allow_private_urls,
            webhook_id=webhook["id"],
        )
        async with self.deps.db.transaction() as conn:
            row = await store.record_test(conn, webhook["id"], event_id, event_type, attempt)
        return webhooks_pb2.TestWebhookResponse(delivery=delivery_message(row))


async def _record_test_event(conn: Any, workspace_id: str, event_type: str, data: dict[str, Any]) -> str:
    """A test dispatch is stored as a webhook.test event (never fanned out), whatever type it imitates."""
    if event_type == "webhook.test":
        return await events.emit(conn, workspace_id, event_type, data)
    event_id = new_id("evt")
    await conn.execute(
        "INSERT INTO events (id, workspace_id, type, payload) VALUES (%s, %s, 'webhook.test', %s)",
        (event_id, workspace_id, events.envelope(event_type, data)),
    )
    return event_id
