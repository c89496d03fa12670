"""Notifiers: turning outbox rows into Slack messages."""
