"""Torch modules (deep embedded clustering, LookAgain). CPU by default, GPU when present."""
