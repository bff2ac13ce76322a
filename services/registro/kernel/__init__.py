"""The kernel: what features share (applications and their identifiers)."""
