"""Triangulate: the verified 3D stage (checks, hypotheses, RANSAC) on labelled 2D points."""
