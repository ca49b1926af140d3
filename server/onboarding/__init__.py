"""Onboarding: a workspace and its agents in one call."""
