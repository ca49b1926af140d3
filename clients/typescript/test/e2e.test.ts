// End to end against a live core: ASTRA_GRPC_URL=http://127.0.0.1:<grpc port> npm test
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { AstraClient, type ChatEvent } from "../src/index.js";

const baseUrl = process.env.ASTRA_GRPC_URL;

test("register, create an agent, stream a chat and read the session back", { skip: !baseUrl && "ASTRA_GRPC_URL is not set" }, async () => {
  const client = new AstraClient({ baseUrl: baseUrl as string });
  const email = `ts-${randomUUID().slice(0, 8)}@example.com`;
  const registered = await client.register(email, "correct horse battery");
  assert.equal(registered.user?.email, email);
  assert.equal(client.workspaceId, registered.workspaceId);

  const agentId = `ts-${randomUUID().slice(0, 8)}`;
  const created = await client.agents.createAgent({ agent: { id: agentId, model: "local/echo" } });
  assert.equal(created.agent?.id, agentId);

  const events: ChatEvent[] = [];
  for await (const event of client.chatStream(agentId, "hello from typescript")) events.push(event);
  const kinds = events.map((e) => e.case);
  assert.equal(kinds[0], "sessionResolved");
  assert.equal(kinds.at(-1), "streamDone");
  const first = events[0];
  assert.ok(first.case === "sessionResolved");
  const sessionId = first.value.sessionId;
  const text = events.map((e) => (e.case === "streamChunk" ? e.value.delta : "")).join("");
  assert.match(text, /hello from typescript/);

  const session = await client.sessions.getSession({ sessionId });
  assert.equal(session.session?.id, sessionId);
  assert.deepEqual(
    session.messages.map((m) => m.role),
    ["user", "assistant"],
  );
  assert.equal(session.messages[0].content, "hello from typescript");

  // A refresh rotates the pair and the client keeps working with the new access token.
  const before = client.tokens?.refreshToken;
  await client.refresh();
  assert.notEqual(client.tokens?.refreshToken, before);
  assert.equal((await client.agents.getAgent({ agentId })).agent?.id, agentId);

  // Another account cannot read the session.
  const stranger = new AstraClient({ baseUrl: baseUrl as string });
  await stranger.register(`ts-${randomUUID().slice(0, 8)}@example.com`, "correct horse battery");
  await assert.rejects(stranger.sessions.getSession({ sessionId }), (err: unknown) => {
    return err instanceof ConnectError && err.code === Code.NotFound;
  });

  // Without credentials the core refuses.
  const anonymous = new AstraClient({ baseUrl: baseUrl as string });
  await assert.rejects(anonymous.agents.listAgents({}), (err: unknown) => {
    return err instanceof ConnectError && err.code === Code.Unauthenticated;
  });
});
