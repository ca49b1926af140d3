"""Agents: config CRUD with versions and ETags, resolution across own, granted and global agents."""
