"""Jira Cloud: the client (all Atlassian I/O)."""
