"""Examples run per fuzzed property, summed for the terminal summary (tests/reliability/conftest.py)."""
from collections import Counter

EXAMPLES: Counter[str] = Counter()
