"""What every optional provider (Jira, Slack, ...) shares: errors, HTTP, the step's contract."""
