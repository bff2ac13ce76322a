"""Pure domain rules: no Flask, no network. Easy to unit-test."""
