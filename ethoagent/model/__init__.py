"""Pure data classes, validated on construction, no I/O: poses, cameras, skeletons, sessions."""
