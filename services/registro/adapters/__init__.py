"""Adapters to the outside world, each behind a small Protocol so unit tests can use fakes."""
