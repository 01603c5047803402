"""What a whole request costs in tokens, and the check that it fits the model's context.

:func:`count_tokens` walks the chat messages as they will be sent: each image at the family's
image cost, each image label at its label cost, every other text part at the family's text
estimate, and a few tokens per message for the chat template's role markers. The family
adapter (:mod:`models.families`) is the one source of the per-part arithmetic.
:func:`check_context` adds the answer budget (``max_new_tokens``: the answer shares the context
with the prompt) and raises :class:`~models.errors.ContextOverflowError` naming what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.errors import ContextOverflowError
from models.families import Family, adapter
from models.inputs.messages import ImagePart, LabelPart, Message

__all__ = ["TURN_TOKENS", "RequestTokens", "TokenCount", "check_context", "count_tokens"]

# Role markers around one message, as both chat templates write them: Gemma3's
# "<start_of_turn>user\n" ... "<end_of_turn>\n" and Qwen's "<|im_start|>user\n" ... "<|im_end|>\n"
# are 5 tokens each; 8 leaves room for a <bos> and the generation prompt of the answer's turn.
TURN_TOKENS = 8


@dataclass(frozen=True)
class TokenCount:
    """Tokens of some messages, by kind."""

    images: int = 0
    image_count: int = 0
    labels: int = 0
    text: int = 0  # text parts and role markers

    @property
    def total(self) -> int:
        return self.images + self.labels + self.text


@dataclass(frozen=True)
class RequestTokens:
    """The tokens of one request: the request's own messages, its few-shot examples, and the
    answer budget.

    Attributes:
        request: the messages of the request itself (every study's images, their labels, the
            system, instruction, query and earlier turns).
        examples: the few-shot demonstrations (their images, instructions and reports).
        answer: the answer budget (``max_new_tokens``).
        studies: how many studies' images the request holds (2 for a comparison).
    """

    request: TokenCount
    examples: TokenCount
    answer: int
    studies: int = 1

    @property
    def total(self) -> int:
        return self.request.total + self.examples.total + self.answer


def count_tokens(messages: Sequence[Message], family: Family | str) -> TokenCount:
    """The approximate prompt tokens of ``messages`` for a model of ``family``."""
    chosen = adapter(family)
    images = labels = text = count = 0
    for message in messages:
        text += TURN_TOKENS
        for part in message.parts:
            if isinstance(part, ImagePart):
                height, width = part.pixels.shape[:2]
                images += chosen.image_tokens((width, height))
                count += 1
            elif isinstance(part, LabelPart):
                labels += chosen.label_tokens(part.text)
            else:
                text += chosen.text_tokens(part.text)
    return TokenCount(images, count, labels, text)


def check_context(
    tokens: RequestTokens, family: Family | str, context_limit: int | None, model: str
) -> None:
    """Nothing when ``tokens`` fit ``context_limit`` (or there is none).

    Raises:
        ContextOverflowError: the request and its answer budget exceed the context; the message
            gives each part's share and the changes that would each make it fit.
    """
    if context_limit is None or tokens.total <= context_limit:
        return
    request, examples = tokens.request, tokens.examples
    parts = [f"{request.images + request.labels:,} for {request.image_count} image(s)"]
    if tokens.studies > 1:
        parts[0] += f" of {tokens.studies} studies"
    parts.append(f"{request.text:,} of text")
    if examples.total:
        parts.append(f"{examples.total:,} for the few-shot examples")
    parts.append(f"{tokens.answer:,} reserved for the answer (max_new_tokens)")
    raise ContextOverflowError(
        f"The request needs about {tokens.total:,} tokens ({', '.join(parts)}) but {model} "
        f"has a context of {context_limit:,} tokens: {_advice(tokens, family, context_limit)}."
    )


def _advice(tokens: RequestTokens, family: Family | str, context_limit: int) -> str:
    """The changes that would each make the request fit."""
    excess = tokens.total - context_limit
    request = tokens.request
    fixes = []
    if request.image_count > tokens.studies:  # stacks of slices: fewer of them
        per_image = -(-(request.images + request.labels) // request.image_count)
        fit = (request.images + request.labels - excess) // per_image // tokens.studies
        if fit >= 1:
            fixes.append(f"lower max_slices to {fit} or fewer, or narrow slice_range")
    if tokens.examples.total >= excess:
        fixes.append("send fewer few-shot examples")
    if tokens.answer - excess >= 64:
        fixes.append(f"lower max_new_tokens to {tokens.answer - excess} or fewer")
    if not fixes:
        fixes.append(adapter(family).overflow_advice())
    return "; or ".join(fixes)
