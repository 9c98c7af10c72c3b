"""Evaluation harness: suites register themselves; ``ethoagent eval SUITE`` runs one."""
