// AstraClient: a Connect client speaking the gRPC protocol to the Astra core (grpcio), with login, token refresh
// shortly before expiry, and authorization / x-workspace-id / x-request-id headers on every call.
import { randomUUID } from "node:crypto";

import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";

import { AgentsService } from "./gen/astra/v1/agents_pb.js";
import { AuthService, type TokenPair } from "./gen/astra/v1/auth_pb.js";
import { ChatService, type ChatStreamResponse } from "./gen/astra/v1/chat_pb.js";
import { SessionsService } from "./gen/astra/v1/sessions_pb.js";
import { WorkspacesService } from "./gen/astra/v1/workspaces_pb.js";

// These obtain tokens; they are never signed and never trigger a refresh.
const UNSIGNED = new Set(["Register", "Login", "Refresh"]);

export interface AstraClientOptions {
  /** The core's gRPC address, e.g. "http://127.0.0.1:50051". */
  baseUrl: string;
  workspaceId?: string;
  /** Refresh the access token when it expires within this many seconds (default 30). */
  refreshMarginS?: number;
  apiKey?: string;
}

/** One event of a streamed turn: the oneof case (sessionResolved, streamChunk, toolCall, ...) and its message. */
export type ChatEvent = Exclude<ChatStreamResponse["event"], { case: undefined }>;

export class AstraClient {
  readonly transport: Transport;
  readonly auth: Client<typeof AuthService>;
  readonly workspaces: Client<typeof WorkspacesService>;
  readonly agents: Client<typeof AgentsService>;
  readonly chat: Client<typeof ChatService>;
  readonly sessions: Client<typeof SessionsService>;
  workspaceId: string | undefined;
  tokens: TokenPair | undefined;
  private expiresAt = 0; // epoch ms at which the access token expires
  private refreshing: Promise<TokenPair> | undefined;
  private readonly marginMs: number;

  constructor(private readonly options: AstraClientOptions) {
    this.workspaceId = options.workspaceId;
    this.marginMs = (options.refreshMarginS ?? 30) * 1000;
    const sign: Interceptor = (next) => async (req) => {
      if (!req.header.has("x-request-id")) req.header.set("x-request-id", randomUUID());
      if (options.apiKey) req.header.set("x-api-key", options.apiKey);
      if (!UNSIGNED.has(req.method.name)) {
        const token = await this.accessToken();
        if (token) req.header.set("authorization", `Bearer ${token}`);
        if (this.workspaceId) req.header.set("x-workspace-id", this.workspaceId);
      }
      return next(req);
    };
    this.transport = createGrpcTransport({ baseUrl: options.baseUrl, interceptors: [sign] });
    this.auth = this.client(AuthService);
    this.workspaces = this.client(WorkspacesService);
    this.agents = this.client(AgentsService);
    this.chat = this.client(ChatService);
    this.sessions = this.client(SessionsService);
  }

  /** A typed client for any other service of the contract, signed like the rest. */
  client<T extends DescService>(service: T): Client<T> {
    return createClient(service, this.transport);
  }

  private keep(tokens: TokenPair | undefined): void {
    if (!tokens) throw new Error("the server answered without tokens");
    this.tokens = tokens;
    this.expiresAt = Date.now() + tokens.expiresIn * 1000;
  }

  async register(email: string, password: string) {
    const answer = await this.auth.register({ email, password });
    this.keep(answer.tokens);
    this.workspaceId ??= answer.workspaceId;
    return answer;
  }

  async login(email: string, password: string) {
    const answer = await this.auth.login({ email, password });
    this.keep(answer.tokens);
    return answer;
  }

  /** Trades the refresh token for a new pair; concurrent callers share one refresh. */
  refresh(): Promise<TokenPair> {
    if (!this.tokens) return Promise.reject(new Error("not logged in: call login() or register() first"));
    const refreshToken = this.tokens.refreshToken;
    this.refreshing ??= this.auth
      .refresh({ refreshToken })
      .then((answer) => {
        this.keep(answer.tokens);
        return this.tokens as TokenPair;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** The access token, refreshed first when it expires within the margin. */
  async accessToken(): Promise<string | undefined> {
    if (!this.tokens) return undefined;
    if (Date.now() >= this.expiresAt - this.marginMs) await this.refresh();
    return this.tokens.accessToken;
  }

  /** Streams one chat turn as events, from sessionResolved to streamDone (or error). */
  async *chatStream(
    agentId: string,
    message: string,
    more: { surface?: string; surfaceId?: string; sessionId?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<ChatEvent> {
    const { signal, ...fields } = more;
    for await (const frame of this.chat.chatStream({ agentId, message, ...fields }, { signal })) {
      if (frame.event.case !== undefined) yield frame.event as ChatEvent;
    }
  }
}
