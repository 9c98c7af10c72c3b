"""Types shared by every model backend: messages, images, tools, prompts and answers.

A model request is a list of ``Message`` (text plus optional images or video clips), an
optional pydantic
output type (structured answer), optional ``Tool`` definitions and a ``PromptRef`` naming the
versioned prompt it came from. Every backend returns an ``Answer`` that carries the raw text,
the parsed object (or the validation error), tool calls, usage and latency.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError, ModelOutputError

Role = Literal["vlm", "llm", "embed"]
ROLES: tuple[Role, ...] = ("vlm", "llm", "embed")
Backend = Literal["offline", "openai"]

T = TypeVar("T", bound=BaseModel)


class Image:
    """An image attached to a message, held as PNG bytes.

    Args:
        data: PNG-encoded bytes.
        source: where it came from (a path or ``"array"``), for the trace.
    """

    __slots__ = ("_sha256", "data", "source")

    def __init__(self, data: bytes, source: str = "array") -> None:
        self.data = data
        self.source = source
        self._sha256: str | None = None

    @classmethod
    def from_array(cls, array: NDArray[Any]) -> Image:
        """Encode an image array as PNG.

        Args:
            array: ``(height, width, 3)`` uint8 RGB, or ``(height, width)`` uint8 grey.
        """
        arr = np.asarray(array)
        if arr.dtype != np.uint8:
            raise InputError(
                f"image array has dtype {arr.dtype}, expected uint8.",
                fix="scale to 0-255 and cast with .astype(np.uint8).",
            )
        if arr.ndim == 3 and arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        elif arr.ndim != 2:
            raise InputError(
                f"image array has shape {arr.shape}, expected (height, width, 3) RGB or "
                "(height, width) grey.",
            )
        ok, buf = cv2.imencode(".png", arr)
        if not ok:  # pragma: no cover - opencv only fails on empty arrays
            raise InputError(f"could not PNG-encode an image of shape {arr.shape}.")
        return cls(buf.tobytes())

    @classmethod
    def from_path(cls, path: str | Path) -> Image:
        """Read an image file (any format opencv reads) and hold it as PNG."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"image file {p} does not exist.")
        raw = p.read_bytes()
        if raw.startswith(b"\x89PNG\r\n\x1a\n"):
            return cls(raw, source=str(p))
        decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise InputError(f"image file {p} could not be decoded.", fix="check the file.")
        ok, buf = cv2.imencode(".png", decoded)
        assert ok
        return cls(buf.tobytes(), source=str(p))

    def to_array(self) -> NDArray[np.uint8]:
        """Decode to ``(height, width, 3)`` uint8 RGB."""
        bgr = cv2.imdecode(np.frombuffer(self.data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{self!r} holds bytes that do not decode as an image.")
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

    def data_url(self) -> str:
        """The image as a ``data:image/png;base64,...`` URL (OpenAI image_url format)."""
        return "data:image/png;base64," + base64.b64encode(self.data).decode("ascii")

    def __repr__(self) -> str:
        return f"Image(sha256={self.sha256[:12]}, bytes={len(self.data)}, source={self.source!r})"


class Clip:
    """A short video clip attached to a message: JPEG frames sampled at ``fps``.

    Sent as one ``video_url`` content part whose URL is ``data:video/jpeg;base64,`` followed
    by the frames' base64 joined by commas: the form vLLM's OpenAI-compatible server decodes
    into a frame sequence for Qwen2.5-VL and Qwen3-VL video input.

    Args:
        frames: JPEG-encoded bytes, one per frame, in time order.
        fps: frames per second of the sampled clip (not of the recording), Hz.
        source: where it came from, for the trace.
    """

    __slots__ = ("_sha256", "fps", "frames", "source")

    def __init__(self, frames: tuple[bytes, ...], fps: float, source: str = "array") -> None:
        if not frames:
            raise InputError("a video clip needs at least one frame.")
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"a video clip's frame rate must be positive; found {fps}.")
        self.frames = frames
        self.fps = float(fps)
        self.source = source
        self._sha256: str | None = None

    @classmethod
    def from_arrays(
        cls, arrays: list[NDArray[Any]], fps: float, *, quality: int = 85, source: str = "array"
    ) -> Clip:
        """Encode frames as JPEG.

        Args:
            arrays: frames, each ``(height, width, 3)`` uint8 RGB or ``(height, width)``
                uint8 grey.
            fps: frames per second of the sampled clip, Hz.
            quality: JPEG quality, 1-100.
            source: where the frames came from, for the trace.
        """
        encoded: list[bytes] = []
        for i, array in enumerate(arrays):
            arr = np.asarray(array)
            if arr.dtype != np.uint8 or not (
                arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)
            ):
                raise InputError(
                    f"clip frame {i} has dtype {arr.dtype} and shape {arr.shape}; expected uint8 "
                    "(height, width, 3) RGB or (height, width) grey."
                )
            if arr.ndim == 3:
                arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:  # pragma: no cover - opencv only fails on empty arrays
                raise InputError(f"could not JPEG-encode clip frame {i} of shape {arr.shape}.")
            encoded.append(buf.tobytes())
        return cls(tuple(encoded), fps, source=source)

    def to_arrays(self) -> list[NDArray[np.uint8]]:
        """Decode every frame to ``(height, width, 3)`` uint8 RGB."""
        out: list[NDArray[np.uint8]] = []
        for i, data in enumerate(self.frames):
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError(f"{self!r}: frame {i} does not decode as JPEG.")
            out.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8))
        return out

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256(f"{self.fps:g}".encode())
            for data in self.frames:
                h.update(hashlib.sha256(data).digest())
            self._sha256 = h.hexdigest()
        return self._sha256

    def data_url(self) -> str:
        """The clip as ``data:video/jpeg;base64,<frame>,<frame>,...`` (vLLM's frame-list form)."""
        return "data:video/jpeg;base64," + ",".join(
            base64.b64encode(data).decode("ascii") for data in self.frames
        )

    def __repr__(self) -> str:
        return (
            f"Clip(sha256={self.sha256[:12]}, frames={len(self.frames)}, fps={self.fps:g}, "
            f"source={self.source!r})"
        )


@dataclass(frozen=True)
class Message:
    """One chat message. Images and clips go with user messages only; ``tool_calls`` with
    assistant messages that called tools (their results follow as ``tool`` messages)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    images: tuple[Image, ...] = ()
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    clips: tuple[Clip, ...] = ()

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able description with images and clips replaced by their hashes."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.images:
            out["images"] = [im.sha256 for im in self.images]
        if self.clips:
            out["clips"] = [c.sha256 for c in self.clips]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": tc.id, "name": tc.name, "arguments": tc.raw_arguments}
                for tc in self.tool_calls
            ]
        return out


@dataclass(frozen=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_model(cls, name: str, description: str, model: type[BaseModel]) -> Tool:
        """Build a tool whose arguments are validated by ``model``."""
        return cls(name=name, description=description, parameters=model.model_json_schema())

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


ToolChoice = Literal["auto", "required", "none"] | str
"""``auto``/``required``/``none``, or the name of one tool to force."""


@dataclass(frozen=True)
class PromptRef:
    """Name and version of the prompt template a request was built from."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}.v{self.version}"


class Sampling(BaseModel):
    """Sampling parameters; part of the cache key."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ToolCall(BaseModel):
    """A tool call as the model made it; ``arguments`` is ``None`` when it was not valid JSON."""

    id: str = ""
    name: str
    arguments: dict[str, Any] | None = None
    raw_arguments: str = ""
    error: str | None = None


class Answer(BaseModel, Generic[T]):
    """What a backend returned for one request.

    ``parsed`` is set when an output type was requested and the answer validated;
    otherwise ``parse_error`` says why. A parse failure is data for the caller's checks,
    never an exception at this layer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str = ""
    parsed: T | None = None
    parse_error: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    backend: Backend = "offline"
    model: str = ""
    cache_hit: bool = False

    def require(self) -> T:
        """Return the parsed object or raise ``ModelOutputError`` with the validation error."""
        if self.parsed is None:
            raise ModelOutputError(
                f"model answer did not match the expected schema: {self.parse_error or 'empty'}"
            )
        return self.parsed


class EmbeddingAnswer(BaseModel):
    """What an embeddings endpoint returned for one request.

    Attributes:
        vectors: one embedding per input, in the order of the inputs (as served, not
            normalised).
        usage: tokens the server counted for the inputs.
        latency_s: wall time of the request, including retries.
        model: the model that answered.
    """

    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""


class ModelClient(Protocol):
    """One async call to a model role. Implemented by online, offline and wrapping clients."""

    backend: Backend

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[T] | None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[T]:
        """Ask ``role`` and return its answer.

        ``payload`` is the structured data the messages were rendered from; offline solvers
        answer from it, online backends ignore it (the messages carry the same content).
        """
        ...

    def model_name(self, role: Role) -> str: ...

    async def aclose(self) -> None: ...


def parse_output(text: str, output: type[T]) -> tuple[T | None, str | None]:
    """Parse model text into ``output``; tolerate a fenced code block around the JSON.

    Returns:
        ``(parsed, None)`` on success, ``(None, error message)`` otherwise.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    if not body:
        return None, "empty answer"
    try:
        return output.model_validate_json(body), None
    except ValueError as exc:  # pydantic.ValidationError and JSON errors subclass ValueError
        return None, _short_validation_error(exc)


def parse_tool_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a tool call's JSON arguments string."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


def _short_validation_error(exc: Exception) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip() and "errors.pydantic.dev" not in ln]
    return " | ".join(ln.strip() for ln in lines[:8])


@dataclass
class Request:
    """A request as an offline solver sees it."""

    role: Role
    messages: list[Message]
    prompt: PromptRef
    output: type[BaseModel] | None
    tools: tuple[Tool, ...]
    tool_choice: ToolChoice
    sampling: Sampling
    payload: Mapping[str, Any] = field(default_factory=dict)

    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.role == "user":
                return m.content
        return ""
