"""Classical behaviour detectors fitted from a user's few labelled examples (model-free).

The cheap path of classify: ``features`` (multi-scale kinematic and ``social`` pair
features), ``bouts`` (contact bouts from a distance: hysteresis and gap filling), ``fit``
(rules from the class names calibrated on the examples, a fitted model, their
cross-validated mix and smoothing, per-window uncertainty).
"""

from __future__ import annotations

from ethoagent.tools.detectors.features import (
    BODY_LENGTH_CM,
    SCALES_S,
    DetectorFeatures,
    detector_features,
)
from ethoagent.tools.detectors.fit import (
    RULES,
    Detector,
    DetectorPrediction,
    RuleKind,
    fit_detector,
    rule_fires,
    rule_kind,
    window_uncertainty,
)
from ethoagent.tools.detectors.social import PAIR_FEATURES, pair_features

__all__ = [
    "BODY_LENGTH_CM",
    "PAIR_FEATURES",
    "RULES",
    "SCALES_S",
    "Detector",
    "DetectorFeatures",
    "DetectorPrediction",
    "RuleKind",
    "detector_features",
    "fit_detector",
    "pair_features",
    "rule_fires",
    "rule_kind",
    "window_uncertainty",
]
