"""Pose: multi-view 3D labels from a few seed frames (BehaviorVLM's pose pipeline)."""
