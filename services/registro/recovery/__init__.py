"""Password recovery (SPEC §8): the request form and its delivery through the outbox."""
