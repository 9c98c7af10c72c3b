"""The synthetic world: behaviour programs, multi-animal bodies, camera rigs and renders.

A product feature (``ethoagent demo``, the evals), not an assumption of the pipelines.
"""
