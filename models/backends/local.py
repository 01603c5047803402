"""Generate with a model loaded in this process (:func:`models.backends.loading.load_model`).

:class:`TransformersBackend` renders the neutral messages with the processor's chat template
(images as PIL images), runs ``model.generate`` on a worker thread and hands the decoded text to
the caller through a ``TextIteratorStreamer``. Details that matter:

- One generation at a time per loaded model: a lock shared by every backend wrapping the same
  model object; a second caller waits for the first to finish.
- Cancelling stops within one token: a stopping criterion reads the :class:`CancelToken` after
  every decoding step. Abandoning a :meth:`~TransformersBackend.stream` iterator (``close()``,
  or leaving a ``for`` loop early) cancels the same way and releases the lock.
- Decoding is greedy unless ``temperature > 0``; then it samples with ``top_p`` only (the
  model's own ``top_k``, e.g. Qwen's ``top_k=1``, is switched off so temperature means what it
  says). ``seed`` seeds torch inside the lock, so concurrent callers cannot disturb it. Other
  knobs of the model's ``generation_config`` (repetition penalty) still apply.
- Stopping: the family's ``stop_tokens`` (``<end_of_turn>`` for Gemma3, ``<|im_end|>`` for
  Qwen), resolved through the tokenizer, go to ``generate`` as ``eos_token_id`` together with
  the ``generation_config``'s own end tokens, so a folder without ``generation_config.json``
  still stops at the end of the turn.
- Errors raised inside the worker are re-raised in the caller: CUDA out of memory as
  :class:`OutOfMemoryError` (after ``torch.cuda.empty_cache()``), anything else as
  :class:`GenerationError` naming the exception and the first line of its text, with the
  original exception chained. The caller never waits on a dead worker: the streamer is polled
  with a timeout and the worker's liveness checked.

torch and transformers are imported inside the methods, so importing this module is cheap.
"""

from __future__ import annotations

import inspect
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from models.backends.base import (
    CancelToken,
    FinishReason,
    GenerationRequest,
    Result,
    drain,
)
from models.backends.loading import LoadedModel
from models.errors import GenerationError, OutOfMemoryError
from models.families.lookup import adapter_for_model_type
from models.inputs.messages import to_transformers

__all__ = ["TransformersBackend"]

# How often the caller wakes up while waiting for the next piece of text, to notice a worker
# that died without ending the stream. Not a limit on how long a token may take.
_POLL_SECONDS = 0.1
_OOM_ADVICE = (
    "Send fewer slices or images, lower max_new_tokens, or load the model in 4-bit "
    "(precision 'nf4')."
)

# Longest piece of an exception's text put into a GenerationError's message.
_MESSAGE_CHARS = 300

# One lock per loaded model object, shared by all backends wrapping it; entries go away with
# the model.
_MODEL_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_MODEL_LOCKS_GUARD = threading.Lock()


def _lock_for(model: Any) -> threading.Lock:
    with _MODEL_LOCKS_GUARD:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.Lock()
        return lock


class TransformersBackend:
    """A :class:`~models.backends.base.Backend` over a model loaded in this process."""

    def __init__(self, loaded: LoadedModel, model_id: str) -> None:
        if not model_id:
            raise ValueError("Argument 'model_id' must be a non-empty name for the model.")
        self._loaded = loaded
        self._model_id = model_id
        self._lock = _lock_for(loaded.model)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def loaded(self) -> LoadedModel:
        return self._loaded

    def __repr__(self) -> str:
        loaded = self._loaded
        return (
            f"TransformersBackend({self._model_id!r}, {loaded.model_type}, "
            f"{loaded.precision.value} on {loaded.device})"
        )

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        return drain(self.stream(request, cancel))[1]

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        run = _Run(self._loaded, request, cancel)
        pieces = []
        with self._lock:
            try:
                run.start()
                for piece in run.deltas():
                    pieces.append(piece)
                    yield piece
            finally:
                run.finish()
        return run.result("".join(pieces), self._model_id)


@dataclass
class _Run:
    """One call of ``model.generate`` on a worker thread, and what came out of it."""

    loaded: LoadedModel
    request: GenerationRequest
    cancel: CancelToken | None
    stop: CancelToken = field(default_factory=CancelToken)
    streamer: Any = None
    thread: threading.Thread | None = None
    prompt_tokens: int = 0
    output: Any = None
    error: BaseException | None = None
    stopped_by_cancel: bool = False
    started: float = 0.0
    first_token: float | None = None
    ended: float = 0.0
    end_ids: list[int] = field(default_factory=list)

    # ------------------------------------------------------------------ caller side

    def start(self) -> None:
        """Build the inputs and start the worker (call with the model's lock held)."""
        import torch
        from transformers import TextIteratorStreamer

        self.started = time.perf_counter()
        inputs = self._inputs()
        self.prompt_tokens = int(inputs["input_ids"].shape[-1])
        tokenizer = getattr(self.loaded.processor, "tokenizer", self.loaded.processor)
        self.streamer = TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=_POLL_SECONDS
        )
        settings = self.request.settings
        self.end_ids = _end_token_ids(self.loaded, tokenizer)
        kwargs = {
            **inputs,
            **_decoding_kwargs(settings.temperature, settings.top_p),
            "eos_token_id": self.end_ids or None,
            "max_new_tokens": settings.max_new_tokens,
            "min_new_tokens": settings.min_new_tokens or None,
            "streamer": self.streamer,
            "stopping_criteria": [_cancel_criterion(self)],
        }
        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        self.thread = threading.Thread(
            target=self._work, args=(kwargs,), name="radlens-generate", daemon=True
        )
        self.thread.start()

    def deltas(self) -> Iterator[str]:
        """Non-empty text pieces as the worker decodes them; raises the worker's error."""
        from queue import Empty

        worker_gone = False
        while True:
            try:
                piece = next(self.streamer)
            except StopIteration:
                break
            except Empty:
                # A worker that died without ending the stream (it always ends it; this is the
                # belt to those braces) is not waited for: one more poll takes what it left.
                if worker_gone:
                    break
                worker_gone = self.thread is not None and not self.thread.is_alive()
                continue
            if piece:
                if self.first_token is None:
                    self.first_token = time.perf_counter()
                yield piece
        self._join()
        self._raise_error()

    def finish(self) -> None:
        """Stop the worker if it still runs (an abandoned stream) and wait for it."""
        if self.thread is not None and self.thread.is_alive():
            self.stop.cancel()
        self._join()

    def result(self, text: str, model_id: str) -> Result:
        settings = self.request.settings
        completion = 0 if self.output is None else int(self.output.shape[-1]) - self.prompt_tokens
        reason: FinishReason
        if self.stopped_by_cancel:
            reason = "cancelled"
        elif completion >= settings.max_new_tokens and not self._ended_on_end_token():
            reason = "length"
        else:
            reason = "stop"
        return Result(
            text=text,
            model_id=model_id,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            seconds=self.ended - self.started,
            first_token_seconds=None
            if self.first_token is None
            else self.first_token - self.started,
            finish_reason=reason,
        )

    def cancel_requested(self) -> bool:
        """Read by the stopping criterion after every token (on the worker thread)."""
        if self.stop.cancelled or (self.cancel is not None and self.cancel.cancelled):
            self.stopped_by_cancel = True
        return self.stopped_by_cancel

    # ------------------------------------------------------------------ helpers

    def _inputs(self) -> Any:
        processor = self.loaded.processor
        kwargs: dict[str, Any] = {
            "add_generation_prompt": True,
            "tokenize": True,
            "return_dict": True,
            "return_tensors": "pt",
        }
        # Text from the user must not be able to write control tokens (<end_of_turn>,
        # <|im_start|>, image placeholders); older transformers lack the switch.
        template = processor.apply_chat_template
        if "sanitize_control_tokens" in inspect.signature(template).parameters:
            kwargs["sanitize_control_tokens"] = True
        try:
            inputs = template(to_transformers(self.request.messages), **kwargs)
        except Exception as err:
            raise GenerationError(
                f"Could not build the prompt for the {self.loaded.model_type} model: "
                f"{type(err).__name__}: {err}"
            ) from err
        return inputs.to(self.loaded.device)

    def _work(self, kwargs: dict[str, Any]) -> None:
        import torch

        try:
            with torch.inference_mode():
                self.output = self.loaded.model.generate(**kwargs)
        except BaseException as err:
            self.error = err
            self.streamer.end()  # wake the caller; generate did not get to it

    def _join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if not self.ended:
            self.ended = time.perf_counter()

    def _raise_error(self) -> None:
        err = self.error
        if err is None:
            return
        if _is_out_of_memory(err):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise OutOfMemoryError(
                f"{self.loaded.device} ran out of memory while generating with the "
                f"{self.loaded.model_type} model ({self.loaded.precision.value}, prompt of "
                f"{self.prompt_tokens} tokens). {_OOM_ADVICE}"
            ) from err
        raise GenerationError(
            f"Generation with the {self.loaded.model_type} model failed: "
            f"{type(err).__name__}: {_first_line(err)}"
        ) from err

    def _ended_on_end_token(self) -> bool:
        if not self.end_ids or self.output is None:
            return False
        if self.output.shape[-1] == self.prompt_tokens:
            return False
        return int(self.output[0, -1]) in self.end_ids


def _end_token_ids(loaded: LoadedModel, tokenizer: Any) -> list[int]:
    """The ids that end an answer: the family's stop tokens (through the tokenizer), then the
    ``generation_config``'s end tokens, each once; tokens the vocabulary lacks are skipped."""
    family = adapter_for_model_type(loaded.model_type)
    ids: list[int] = []
    unknown = getattr(tokenizer, "unk_token_id", None)
    for token in family.stop_tokens if family is not None else ():
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != unknown:
            ids.append(found)
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    if configured is not None:
        ids.extend([configured] if isinstance(configured, int) else list(configured))
    return list(dict.fromkeys(ids))


def _decoding_kwargs(temperature: float, top_p: float) -> dict[str, Any]:
    """``generate`` keywords for greedy decoding or temperature/top-p sampling.

    Greedy passes the neutral values of the sampling knobs, so the model's own sampling
    defaults neither apply nor trigger "flag ignored" warnings.
    """
    if temperature == 0:
        return {"do_sample": False, "temperature": 1.0, "top_p": 1.0, "top_k": 50}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}


def _cancel_criterion(run: _Run) -> Any:
    """A ``StoppingCriteria`` ending generation once the run is cancelled."""
    import torch
    from transformers import StoppingCriteria

    class _Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = run.cancel_requested()
            rows = input_ids.shape[0]
            return torch.full((rows,), done, dtype=torch.bool, device=input_ids.device)

    return _Cancelled()


def _first_line(err: BaseException) -> str:
    """The first line of an exception's text (CUDA errors add advice on more lines), shortened."""
    lines = str(err).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 3] + "..."


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
