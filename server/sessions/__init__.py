"""Sessions: conversations per (user, workspace, agent, surface, surface id), their messages, search, handoff."""
