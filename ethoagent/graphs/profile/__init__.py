"""Profile: open-vocabulary behaviour profiles across sessions and group comparisons."""
