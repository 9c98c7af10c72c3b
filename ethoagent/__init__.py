"""ethoagent: verified 3D poses and labelled behaviour from video and keypoints.

Models (VLMs, LLMs) propose; plain, typed tools check. See DESIGN.md for the architecture.
"""

from __future__ import annotations

__version__ = "0.1.0"
