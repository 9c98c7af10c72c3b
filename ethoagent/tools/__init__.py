"""Pure, typed, model-free tools: geometry, features, clustering, checks.

Nothing in this package calls a model; model-backed steps live in ``ethoagent.agent`` and
``ethoagent.graphs``.
"""
