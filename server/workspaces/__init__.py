"""Workspaces: membership and roles, settings, restrictions, cross-workspace agent grants, usage stats."""
