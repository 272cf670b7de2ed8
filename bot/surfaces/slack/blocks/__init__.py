"""Block Kit builders: pure functions from the use cases' views to Slack messages."""
