"""The cost dashboard: a workspace's spend from the usage and tool calls recorded with every turn."""
