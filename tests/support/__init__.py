"""Helpers for tests that talk to the real servers of the test stack."""
