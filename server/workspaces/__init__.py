"""Workspaces: membership, invitations and roles, settings, restrictions, cross-workspace agent grants, usage stats."""
