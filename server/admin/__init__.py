"""Operator views across workspaces (API key)."""
