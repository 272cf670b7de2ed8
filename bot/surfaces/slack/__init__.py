"""Slack: Bolt listeners (listeners/), Block Kit (blocks/), the chat port (surface.py)."""
