"""Torch modules (deep embedded clustering, LookAgain, the packaged EfficientNet-Lite0 and
all-MiniLM-L6-v2 encoders). CPU by default, GPU when present."""
