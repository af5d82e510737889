"""A stand-in for Jira Cloud: Atlassian's OAuth 2.0 (3LO) and the project search."""
