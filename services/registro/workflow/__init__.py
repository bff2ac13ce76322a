"""Business rules: status transitions, emails, audit. Talks to adapters, never to Flask requests."""
