"""Classify: in-context behaviour classification from a few labelled examples per class."""
