"""Models of the ``gate`` eval suite: training, scoring and the unsupervised heads.

- ``train_lookagain``: the LookAgain model with vision, trained with the gate at
  ``TRAIN_FRACTION`` (noisy top-k);
- ``MotionTransformer`` / ``train_transformer``: a plain supervised transformer on the
  motion descriptors (same width, depth, windows, steps and class weights; no RVQ, gate
  or vision);
- ``evaluate_supervised``: ``ethoagent gate predict``'s inference (top-k of each disjoint
  window, probabilities averaged over windows overlapping by half);
- ``unsupervised_scores``: Hungarian macro-F1 of KMeans, DEC and the LookAgain DEC head.

Arrays: labels and predictions ``(frames, animals)`` int64 (-1 = unlabelled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.metrics import f1_score
from torch import nn

from ethoagent.evals.gate_data import TRAIN_FRACTION, EvalSizes, GateCase
from ethoagent.nn.dec import DecConfig, fit_dec
from ethoagent.nn.lookagain import (
    LookAgain,
    LookAgainConfig,
    class_weights,
    dec_loss,
)
from ethoagent.nn.predict_gate import (
    average_windows,
    predict_probabilities,
    select_frames,
)
from ethoagent.nn.pretrain_gate import PretrainConfig, pretrain_gate
from ethoagent.nn.train_gate import (
    GateSession,
    TrainConfig,
    batch_rows,
    batch_windows,
    cut_windows,
    train_gate,
    warmup_cosine,
)
from ethoagent.tools.cluster import kmeans_baseline
from ethoagent.tools.ethogram import hungarian_macro_f1

__all__ = [
    "MotionTransformer",
    "Prediction",
    "evaluate_supervised",
    "label_blocks",
    "macro_f1_scores",
    "train_lookagain",
    "train_steps",
    "train_transformer",
    "unsupervised_scores",
]


def label_blocks(session: GateSession, ratio: float, window: int, seed: int) -> list[GateSession]:
    """The labelled part of a training session: ``ratio`` of its windows, drawn by seed.

    The session is cut into consecutive blocks of ``window`` frames; ``max(1,
    round(ratio * blocks))`` of them, drawn at random (seeded), become the training
    sessions (each keeps its motion context; all of it is labelled). ``ratio`` 1 returns
    the whole session.
    """
    frames = session.motion.shape[0]
    if ratio >= 1.0:
        return [session]
    n_blocks = math.ceil(frames / window)
    k = max(1, round(ratio * n_blocks))
    picks = np.sort(np.random.default_rng([seed, round(ratio * 1000)]).permutation(n_blocks)[:k])

    def cut(a: NDArray[Any] | None, sl: slice) -> Any:
        return None if a is None else a[sl]

    out = []
    for b in picks:
        sl = slice(int(b) * window, min((int(b) + 1) * window, frames))
        out.append(
            GateSession(
                motion=session.motion[sl],
                labels=session.labels[sl],
                confidence=cut(session.confidence, sl),
                present=cut(session.present, sl),
                vision=cut(session.vision, sl),
            )
        )
    return out


def _model_config(case: GateCase, sizes: EvalSizes, n_clusters: int = 8) -> LookAgainConfig:
    vdim = case.train.vision.shape[-1] if case.train.vision is not None else None
    return LookAgainConfig(
        input_dim=case.train.motion.shape[-1],
        n_classes=len(case.classes),
        vision_dim=vdim,
        d_z=sizes.d_z,
        d_model=sizes.d_model,
        heads=sizes.heads,
        temporal_layers=sizes.temporal_layers,
        social_layers=1,
        aggregator_layers=1,
        max_len=sizes.window,
        rvq_codes=sizes.rvq_codes,
        gate_fraction=TRAIN_FRACTION,
        n_clusters=n_clusters,
        dropout=0.0,
    )


def train_steps(ratio: float, sizes: EvalSizes) -> int:
    """Training steps at label ratio ``ratio``: ``round(steps * max(0.3, sqrt(ratio)))``."""
    return max(1, round(sizes.steps * max(0.3, math.sqrt(ratio))))


def _epochs(sessions: Sequence[GateSession], sizes: EvalSizes, steps: int) -> int:
    windows = sum(
        len(cut_windows(s.motion.shape[0], sizes.window, sizes.window // 2)) for s in sessions
    )
    per_epoch = math.ceil(windows / _batch(sessions, sizes))
    return max(1, math.ceil(steps / per_epoch))


def _batch(sessions: Sequence[GateSession], sizes: EvalSizes) -> int:
    return max(1, sizes.sequences // int(sessions[0].motion.shape[1]))


def _seeded(build: Callable[[], Any], seed: int) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def train_lookagain(
    case: GateCase, sessions: list[GateSession], sizes: EvalSizes, seed: int, steps: int
) -> LookAgain:
    """The LookAgain model of ``case``'s size, trained ``steps`` steps on ``sessions`` (seeded)."""
    cfg = _model_config(case, sizes)
    model: LookAgain = _seeded(lambda: LookAgain(cfg), seed)
    train_gate(
        model,
        sessions,
        TrainConfig(
            epochs=_epochs(sessions, sizes, steps),
            batch_size=_batch(sessions, sizes),
            window=sizes.window,
            stride=sizes.window // 2,
            lr=sizes.lr,
            warmup_steps=max(1, steps // 10),
            checkpoint_every=10**9,
            seed=seed,
        ),
    )
    return model


class MotionTransformer(nn.Module):
    """Baseline: a plain transformer over time on the motion descriptor of each animal.

    ``Linear(Din -> d_model)`` plus learned positions, ``layers`` pre-norm transformer
    layers with the padding masked, a layer norm and a linear classifier: the LookAgain
    temporal stream without convolutions, RVQ, social transformer, gate or vision.
    """

    def __init__(
        self, input_dim: int, n_classes: int, d_model: int, heads: int, layers: int, max_len: int
    ) -> None:
        """Layers for ``input_dim`` features and ``n_classes``, windows up to ``max_len``."""
        super().__init__()
        self.inp = nn.Linear(input_dim, d_model)
        self.positions = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, 0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, n_classes)

    def forward(self, motion: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
        """``motion`` ``(B, A, T, Din)``, ``time_mask`` ``(B, T)`` -> logits ``(B, A, T, C)``."""
        b, a, t, d = motion.shape
        keep = time_mask[:, None, :].expand(b, a, t).reshape(b * a, t)
        x = self.inp(motion.reshape(b * a, t, d)) + self.positions[:t]
        x = self.encoder(x, src_key_padding_mask=~keep)
        logits: torch.Tensor = self.out(self.norm(x))
        return logits.reshape(b, a, t, -1)


def train_transformer(
    case: GateCase, sessions: list[GateSession], sizes: EvalSizes, seed: int, steps: int
) -> MotionTransformer:
    """The transformer baseline, trained as ``train_lookagain`` (same windows, steps, weights)."""
    model: MotionTransformer = _seeded(
        lambda: MotionTransformer(
            case.train.motion.shape[-1],
            len(case.classes),
            sizes.d_model,
            sizes.heads,
            sizes.temporal_layers,
            sizes.window,
        ),
        seed,
    )
    windows = [
        (i, start, stop)
        for i, s in enumerate(sessions)
        for start, stop in cut_windows(s.motion.shape[0], sizes.window, sizes.window // 2)
    ]
    per_epoch = math.ceil(len(windows) / _batch(sessions, sizes))
    total = _epochs(sessions, sizes, steps) * per_epoch
    weights = class_weights(
        torch.from_numpy(np.concatenate([s.labels.reshape(-1) for s in sessions])),
        len(case.classes),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=sizes.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max(1, steps // 10), total))
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(total):
            rows = batch_rows(step, per_epoch, len(windows), _batch(sessions, sizes), seed)
            inputs, labels = batch_windows(sessions, [windows[j] for j in rows], sizes.window)
            logits = model(inputs["motion"], inputs["time_mask"])
            ok = (labels >= 0) & inputs["time_mask"][:, None, :]
            loss = nn.functional.cross_entropy(logits[ok], labels[ok], weight=weights)
            opt.zero_grad()
            torch.autograd.backward([loss])
            opt.step()
            sched.step()
    model.eval()
    return model


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Prediction:
    """Predicted classes of a test session and the frames looked at.

    Attributes:
        codes: ``(frames, animals)`` int64 most probable class.
        looked: frames (x animals) the vision path looked at.
        valid: frames (x animals) with the animal present.
    """

    codes: NDArray[np.int64]
    looked: int
    valid: int


def _chunks(frames: int, window: int) -> list[tuple[int, int]]:
    return [(s, min(s + window, frames)) for s in range(0, frames, window)]


@torch.no_grad()
def evaluate_supervised(
    model: LookAgain | MotionTransformer,
    session: GateSession,
    window: int,
    *,
    fraction: float | None = None,
    uniform: bool = False,
) -> Prediction:
    """Predict every frame of ``session`` as ``ethoagent gate predict`` does.

    LookAgain: the frames to look at are fixed first (``select_frames``: top-k per
    disjoint window and animal), then the probabilities are averaged over overlapping
    windows (``predict_probabilities``); the transformer baseline averages its windows the
    same way.

    Args:
        model: a trained LookAgain model or the transformer baseline.
        session: the test session.
        window: frames per window.
        fraction: LookAgain's budget (top-k fraction per window); None = no vision input.
        uniform: replace the gate's top-k by ``uniform_selection`` at the same budget.
    """
    model.eval()
    present = (
        session.present if session.present is not None else np.ones(session.labels.shape, bool)
    )
    looked = 0
    if isinstance(model, MotionTransformer):
        transformer = model

        def forward(start: int, stop: int) -> NDArray[np.float32]:
            inputs, _ = batch_windows([session], [(0, start, stop)], window)
            logits = transformer(inputs["motion"], inputs["time_mask"])
            return np.asarray(torch.softmax(logits.float(), -1)[0].numpy().transpose(1, 0, 2))

        n_classes = int(model.out.out_features)
        probs = average_windows(session.labels.shape[0], window, n_classes, forward)
    elif fraction is None:
        keypoints_only = replace(session, vision=None)
        probs = predict_probabilities(model, keypoints_only, window)
    else:
        select = select_frames(model, session, window, fraction, uniform=uniform)
        looked = int(select.sum())
        probs = predict_probabilities(model, session, window, select=select)
    codes = np.asarray(probs.argmax(axis=-1), np.int64)
    return Prediction(codes=codes, looked=looked, valid=int(present.sum()))


def macro_f1_scores(
    pred: NDArray[np.int64], truth: NDArray[np.int64], classes: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """Macro-F1 over the classes present in ``truth`` and their per-class F1."""
    p, t = pred.T.ravel(), truth.T.ravel()
    ok = t >= 0
    present = np.unique(t[ok])
    per = f1_score(t[ok], p[ok], labels=present, average=None, zero_division=0)
    scores = {classes[int(c)]: float(f) for c, f in zip(present, per, strict=True)}
    return float(np.mean(per)), scores


# --------------------------------------------------------------------------- unsupervised


def unsupervised_scores(case: GateCase, sizes: EvalSizes, seed: int) -> dict[str, float]:
    """Hungarian macro-F1 of the three clusterings of the test session."""
    test = case.test
    truth = test.labels
    k = max(2, int(np.unique(truth[truth >= 0]).size))
    valid = test.present if test.present is not None else np.ones(truth.shape, bool)
    x = test.motion[valid].astype(np.float64)
    out: dict[str, float] = {}

    def score(labels_valid: NDArray[np.int64]) -> float:
        pred = np.full(truth.shape, -1, np.int64)
        pred[valid] = labels_valid
        ok = truth >= 0
        return hungarian_macro_f1(pred.T.ravel()[ok.T.ravel()], truth.T.ravel()[ok.T.ravel()])

    out["kmeans"] = score(kmeans_baseline(x, k=k, seed=seed))
    dec = fit_dec(x, DecConfig(k=k, seed=seed, cluster_iters=sizes.dec_iters))
    out["dec"] = score(dec.labels)
    out["lookagain_dec"] = score(_lookagain_dec(case, sizes, k, seed)[valid])
    return out


def _lookagain_dec(case: GateCase, sizes: EvalSizes, k: int, seed: int) -> NDArray[np.int64]:
    """Clusters ``(frames, animals)`` of the unsupervised LookAgain on the test session."""
    cfg = _model_config(case, sizes, n_clusters=k)
    model: LookAgain = _seeded(lambda: LookAgain(cfg), seed)
    session = replace(case.test, labels=np.full_like(case.test.labels, -1))
    sessions = [session]
    windows = [
        (0, s, e) for s, e in cut_windows(session.motion.shape[0], sizes.window, sizes.window // 2)
    ]
    per_epoch = math.ceil(len(windows) / _batch(sessions, sizes))
    pretrain_gate(
        model,
        sessions,
        PretrainConfig(
            epochs=max(1, math.ceil(sizes.pretrain_steps / per_epoch)),
            batch_size=_batch(sessions, sizes),
            window=sizes.window,
            stride=sizes.window // 2,
            lr=sizes.lr,
            warmup_steps=max(1, sizes.pretrain_steps // 10),
            checkpoint_every=10**9,
            seed=seed,
        ),
    )
    fraction = TRAIN_FRACTION if case.has_vision else None

    def forward(picks: list[tuple[int, int, int]]) -> Any:
        inputs, _ = batch_windows(sessions, picks, sizes.window)
        if fraction is None:
            inputs.pop("vision", None)
        return model(**inputs)

    with torch.no_grad():
        model.eval()
        outs = [forward([w]) for w in windows[:: max(1, len(windows) // 32)]]
        model.init_centroids(torch.cat([o.embedding[o.valid] for o in outs]), seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=sizes.lr * 0.3, weight_decay=0.01)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(sizes.dec_steps):
            rows = batch_rows(step, per_epoch, len(windows), _batch(sessions, sizes), seed)
            out = forward([windows[j] for j in rows])
            loss = dec_loss(out, model.config.tv_weight) + out.commit_loss + 0.1 * out.recon_loss
            opt.zero_grad()
            torch.autograd.backward([loss])
            opt.step()
    model.eval()
    frames, animals = session.labels.shape
    codes = np.zeros((frames, animals), np.int64)
    with torch.no_grad():
        for start, stop in _chunks(frames, sizes.window):
            out = forward([(0, start, stop)])
            codes[start:stop] = out.cluster_q[0].argmax(dim=-1).numpy().T
    return codes
