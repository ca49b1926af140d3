"""Accounts, passwords, access and refresh tokens, login throttling."""
