"""The demo: a simulated session through every pipeline, and its self-contained report."""
