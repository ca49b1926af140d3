"""Outbound webhooks (Standard Webhooks).

Every delivery is a POST of the event envelope {"type", "timestamp" (ISO 8601), "data"} with the headers
webhook-id (the event id, the same on every attempt: receivers deduplicate on it), webhook-timestamp (unix
seconds) and webhook-signature ("v1," + base64 HMAC-SHA256 over "<id>.<timestamp>.<body>", keyed by the
base64-decoded part of the "whsec_" secret). 2xx is success; anything else, redirects included, is retried on
ASTRA_WEBHOOK_RETRY_SCHEDULE; 410 Gone disables the webhook.

The `data` of each event type:
- agent.completed / agent.failed: {agentId, sessionId, userId, messageId, content, toolsUsed[],
  usage: {promptTokens, completionTokens, costUsd}, error (agent.failed only)}; an agent.failed for a turn that a
  crash cut off (closed when a gateway starts, or by a live replica's sweep) also has `interrupted: true`, an empty
  content and zero usage, and its messageId is the assistant message saying the reply was interrupted
- session.handoff: {sessionId, fromAgentId, toAgentId, note, userId}
- memory.written: {userId, tier: "daily"|"notes", index, content, plus date and category (daily) or source (notes)}
- heartbeat.fired: {heartbeatId, runId, type: "rss"|"http", url, agentId, statusCode,
  items[]: {title, url, summary, publishedAt?, matchedKeywords[]}}
- webhook.test: {webhookId, message} by default, or the data given to POST /webhooks/:id/test
"""
