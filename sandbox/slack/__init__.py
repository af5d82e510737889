"""A stand-in for Slack: the OAuth v2 install, conversations.list and chat.postMessage."""
