// Registers an account, creates an echo agent and streams one chat turn to stdout.
// Usage: ASTRA_GRPC_URL=http://127.0.0.1:50051 npm run example
import { randomUUID } from "node:crypto";

import { AstraClient } from "./client.js";

const client = new AstraClient({ baseUrl: process.env.ASTRA_GRPC_URL ?? "http://127.0.0.1:50051" });
await client.register(`example-${randomUUID().slice(0, 8)}@example.com`, "correct horse battery");
const agentId = `example-${randomUUID().slice(0, 8)}`;
await client.agents.createAgent({ agent: { id: agentId, model: "local/echo", displayName: "Example" } });
for await (const event of client.chatStream(agentId, "Hello from TypeScript")) {
  if (event.case === "streamChunk") process.stdout.write(event.value.delta);
  else console.log(`\n[${event.case}]`);
}
