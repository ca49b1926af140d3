"""MCP servers' tools for agents (Astra as an MCP client): the operator's servers (ASTRA_MCP_SERVERS_FILE) and each
workspace's own (McpServersService), offered to agents as `mcp__<server>__<tool>` through the tool runtime's source
(hub.py), each session kept by connection.py."""
