"""The contract's rules, in one place: everything the core, the edge and the OpenAPI generator need to know about
`astra.v1` beyond the generated code itself.

- `services`: which services and methods the contract has (the one scan of gen/), who may call each
  (`astra.v1.auth`, unset meaning JWT) and which HTTP dialect the edge speaks for it (`astra.v1.dialect`).
- `routes`: the REST routes of the google.api.http rules, with their success statuses.
- `fields`: how a query or path name resolves to a request field, and which fields a query string may set;
  which oneof names a streamed message's frames.
- `errors`: the error codes every surface speaks (REST, SSE, NDJSON, /ws, gRPC) and each one's gRPC and HTTP
  status.
- `metadata`: what travels beside a call between edge and core: the request id and its rule, the HTTP status and
  retry hints the core asks for.
- `stubs`: a callable for one method on a channel.

It depends on gen/ (astra.v1, google.api) and protobuf only, and on grpc only for its status codes, which the
generated stubs need anyway; nothing here imports the core or the edge.
"""
