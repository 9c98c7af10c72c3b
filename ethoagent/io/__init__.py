"""File formats, one module per family: keypoints, labels, calibration, video."""
