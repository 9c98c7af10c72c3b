"""Segment: features -> DEC -> snippets -> captions -> merged epochs (unsupervised ethogram)."""
