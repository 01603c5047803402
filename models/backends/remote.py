"""Generate with an OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, transformers serve).

:class:`OpenAIBackend` POSTs to ``{base_url}/v1/chat/completions`` (or
``{base_url}/chat/completions`` when ``base_url`` already ends in ``/v1``) with images as base64
PNG data URLs, always with ``stream: true``, and reads the server-sent events (``data: {...}``
lines, ending with ``data: [DONE]`` or with the chunk that carries ``finish_reason``). A
non-streamed JSON answer is accepted too, for servers that ignore ``stream``.

Everything that can go wrong becomes a :class:`RemoteServerError` naming the URL: an error
status (with the server's own error text: OpenAI's ``{"error": {"message": ...}}``, FastAPI's
``{"detail": ...}``, ``{"error": "..."}``), a refused or dropped connection, a body that is
neither events nor JSON, an error event in the stream. Timeouts are
:class:`RemoteTimeoutError`: ``connect_timeout`` for the connection, ``timeout`` for any wait
on the next bytes (so a slow first token on a large prompt needs a larger ``timeout``, not a
hung server).

Cancelling (a :class:`CancelToken`, or closing the :meth:`~OpenAIBackend.stream` iterator)
closes the connection at the next event; servers stop generating when the client goes away.

The OpenAI API has no minimum answer length: ``min_new_tokens > 0`` is refused unless you pass
the server's own field through ``extra_body`` (vLLM: ``{"min_tokens": N}``; transformers
serve: ``{"generation_config": '{"min_new_tokens": N, ...}'}``), which is sent as is.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from models.backends.base import (
    CancelToken,
    FinishReason,
    GenerationRequest,
    Result,
    drain,
)
from models.errors import RemoteServerError, RemoteTimeoutError
from models.inputs.messages import to_openai

__all__ = ["OpenAIBackend", "chat_completions_url"]

# Longest piece of a server's error body or garbage put into an exception message.
_SNIPPET = 300


def chat_completions_url(base_url: str) -> str:
    """The chat-completions endpoint under ``base_url`` (with or without a trailing ``/v1``)."""
    base = base_url.strip().rstrip("/")
    parsed = httpx.URL(base)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"Argument 'base_url' must be an http(s) URL such as http://127.0.0.1:8000, "
            f"not {base_url!r}."
        )
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


class OpenAIBackend:
    """A :class:`~models.backends.base.Backend` talking to an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ValueError("Argument 'model' must name the model the server should use.")
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if not value > 0:
                raise ValueError(f"Argument '{name}' must be > 0 seconds, not {value!r}.")
        self.url = chat_completions_url(base_url)
        self.model = model
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.extra_body = dict(extra_body or {})
        self._headers = {"Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    @property
    def model_id(self) -> str:
        return self.model

    def __repr__(self) -> str:  # never shows the API key
        return f"OpenAIBackend({self.url!r}, model={self.model!r})"

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        return drain(self.stream(request, cancel))[1]

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        payload = self.payload(request)
        token = cancel if cancel is not None else CancelToken()
        state = _StreamState(started=time.perf_counter())
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            with (
                httpx.Client(timeout=timeout, trust_env=False) as client,
                client.stream("POST", self.url, json=payload, headers=self._headers) as response,
            ):
                # A Stop while the server is silent (prefill) must not wait for its next bytes:
                # shutting the socket ends the blocked read at once.
                forget = token.on_cancel(lambda: _shut(response))
                try:
                    self._check_status(response)
                    for event in self._events(response):
                        if token.cancelled:
                            break
                        piece = state.take(event)
                        if piece:
                            yield piece
                finally:
                    forget()
        except httpx.HTTPError as err:
            if not token.cancelled:
                raise self._transport_error(err) from err
        state.cancelled = token.cancelled and not state.finished
        return state.result(self.model, self.url)

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for ``request``."""
        settings = request.settings
        if settings.min_new_tokens and not self.extra_body:
            raise ValueError(
                f"OpenAIBackend cannot enforce min_new_tokens={settings.min_new_tokens}: the "
                "OpenAI chat API has no minimum length. Pass the server's own field in "
                "extra_body (vLLM: {'min_tokens': N}; transformers serve: "
                "{'generation_config': '{\"min_new_tokens\": N}'}), or leave it at 0."
            )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        body.update(self.extra_body)
        return body

    # ------------------------------------------------------------------ responses

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body = response.read()
        message = _error_text(body) or response.reason_phrase or "no error text"
        raise RemoteServerError(
            f"{self.url} answered HTTP {response.status_code}: {message}",
            status_code=response.status_code,
        )

    def _events(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        """The JSON events of an SSE body, or the one object of a JSON body."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            yield self._json_object(response.read().decode("utf-8", "replace"))
            return
        if kind != "text/event-stream":
            head = response.read()[:_SNIPPET].decode("utf-8", "replace")
            raise RemoteServerError(
                f"{self.url} sent {kind or 'an untyped body'} instead of an event stream or "
                f"JSON; is it an OpenAI-compatible server? It began: {head!r}"
            )
        for line in response.iter_lines():
            if not line or line.startswith(":"):
                continue  # event separator or comment (keep-alive)
            field, _, value = line.partition(":")
            if field != "data":
                if field in ("event", "id", "retry"):
                    continue
                raise RemoteServerError(
                    f"{self.url} sent a malformed event stream line: {line[:_SNIPPET]!r}"
                )
            data = value.strip()
            if data == "[DONE]":
                yield {"done": True}
                return
            yield self._json_object(data)

    def _json_object(self, text: str) -> dict[str, Any]:
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise RemoteServerError(
                f"{self.url} sent something that is not a JSON object: {text[:_SNIPPET]!r}"
            )
        if "error" in event:
            message = _error_text(json.dumps(event).encode())
            raise RemoteServerError(f"{self.url} reported an error while generating: {message}")
        return event

    def _transport_error(self, err: httpx.HTTPError) -> RemoteServerError:
        url = self.url
        if isinstance(err, httpx.ConnectTimeout):
            return RemoteTimeoutError(
                f"No connection to {url} within {self.connect_timeout:g} s (connect_timeout): "
                "is the host reachable?"
            )
        if isinstance(err, httpx.TimeoutException):
            return RemoteTimeoutError(
                f"{url} sent nothing for {self.timeout:g} s (timeout): the server is hung or "
                "overloaded; if the model is just slow to start answering, raise the timeout "
                "(RADLENS_REMOTE_TIMEOUT, seconds)."
            )
        if isinstance(err, httpx.ConnectError):
            return RemoteServerError(
                f"Cannot connect to {url}: {err}. Is the server running on that port?"
            )
        if isinstance(err, httpx.RemoteProtocolError | httpx.ReadError):
            reason = str(err).strip().rstrip(".") or "closed"
            return RemoteServerError(
                f"Connection to {url} dropped before the answer was complete: {reason}."
            )
        return RemoteServerError(f"Request to {url} failed: {type(err).__name__}: {err}")


@dataclass
class _StreamState:
    """What the events of one answer said so far."""

    started: float
    pieces: list[str] | None = None
    first_token: float | None = None
    finish: str | None = None
    done: bool = False
    cancelled: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def take(self, event: dict[str, Any]) -> str:
        """Record one event; the text it adds."""
        if event.get("done"):
            self.done = True
            return ""
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = _count(usage.get("prompt_tokens"))
            self.completion_tokens = _count(usage.get("completion_tokens"))
        text = ""
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            part = choice.get("delta") or choice.get("message") or {}
            content = part.get("content") if isinstance(part, dict) else None
            if isinstance(content, str):
                text += content
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])
        if text:
            if self.pieces is None:
                self.pieces = []
                self.first_token = time.perf_counter()
            self.pieces.append(text)
        return text

    @property
    def finished(self) -> bool:
        return self.done or self.finish is not None

    def result(self, model: str, url: str) -> Result:
        if not (self.cancelled or self.finished):
            raise RemoteServerError(
                f"{url} closed the stream before the answer was complete "
                "(no finish_reason and no [DONE])."
            )
        reason: FinishReason
        if self.cancelled:
            reason = "cancelled"
        elif self.finish == "length":
            reason = "length"
        else:
            reason = "stop"
        return Result(
            text="".join(self.pieces or []),
            model_id=model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            seconds=time.perf_counter() - self.started,
            first_token_seconds=None
            if self.first_token is None
            else self.first_token - self.started,
            finish_reason=reason,
        )


def _shut(response: httpx.Response) -> None:
    """Shut the response's socket (from any thread), ending a blocked read on it."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _error_text(body: bytes) -> str:
    """The human part of an error body (OpenAI, vLLM, FastAPI or plain text), one line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message: object = text
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error
        elif error:
            message = error
        elif "message" in data:
            message = data["message"]
        elif "detail" in data:
            message = data["detail"]
    if not isinstance(message, str):
        message = json.dumps(message)
    return " ".join(message.split())[:_SNIPPET]
