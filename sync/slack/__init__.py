"""Slack: the client (all Slack I/O)."""
