"""Outbound networking shared by domains."""
