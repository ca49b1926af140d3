"""Agent turns run by trusted callers (API key) on behalf of users."""
