"""VisionModel: folio's one door to an OpenAI-compatible vision/answer model.

It owns the ``AsyncOpenAI`` client it is given (built with ``max_retries=0`` so that the
retry policy is this module's): per-attempt and overall timeouts, bounded retries with
exponential backoff and jitter on 429, 408/409, 5xx and connection errors (honouring
``Retry-After``), a concurrency limit, and translation of every ``openai`` error into a
``ModelError`` exactly once.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import openai

from rag.answer._prompts import (
    MAX_IMAGE_SIDE,
    Message,
    SourceText,
    answer_messages,
    caption_messages,
    describe_messages,
    image_data_url,
    rewrite_messages,
)
from rag.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from rag.settings import LlmConfig
from rag.types import ThreadMessage, Turn

__all__ = ["SourceText", "VisionModel"]

logger = logging.getLogger(__name__)

# Output caps: an answer is a few paragraphs; descriptions, captions and rewrites are short.
# A model that rambles (or is steered by a document to) stops here, not at the context end.
MAX_ANSWER_TOKENS = 1200
MAX_TOKENS = 400

Sleep = Callable[[float], Awaitable[None]]

_RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class _Failure:
    """One failed attempt, translated: the error to raise and whether to try again."""

    error: ModelError
    retryable: bool
    retry_after_s: float | None = None


class VisionModel:
    """Describes pictures, captions figures, rewrites follow-ups and writes cited answers."""

    def __init__(
        self,
        *,
        client: openai.AsyncOpenAI,
        config: LlmConfig,
        total_timeout_s: float | None = None,
        base_delay_s: float = 0.5,
        max_delay_s: float = 8.0,
        max_retry_after_s: float = 30.0,
        max_image_side: int = MAX_IMAGE_SIDE,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self.config = config
        # A call (all attempts and waits) ends within total_timeout_s of getting a slot.
        self._total_timeout_s = total_timeout_s or 2 * config.timeout_s
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._max_retry_after_s = max_retry_after_s
        self._max_image_side = max_image_side
        self._sleep = sleep
        self._slots = asyncio.Semaphore(config.concurrency)

    async def describe_image(self, image: bytes, question: str) -> str:
        """A retrieval-oriented description of a user's picture, in view of the question."""
        url = await self._data_url(image)
        messages = describe_messages(url, question)
        return await self._complete("vision", self.config.vision_model, messages)

    async def caption_figure(self, image: bytes, context: str) -> str:
        """A retrieval-oriented caption of a document figure or page render."""
        url = await self._data_url(image)
        messages = caption_messages(url, context)
        return await self._complete("vision", self.config.vision_model, messages)

    async def rewrite_question(self, question: str, history: Sequence[Turn]) -> str:
        """The follow-up ``question`` as a standalone question, in the same language."""
        if not history:
            return question
        messages = rewrite_messages(question, history)
        rewritten = await self._complete("answer", self.config.answer_model, messages)
        return rewritten.strip() or question

    async def answer(
        self,
        question: str,
        sources: Sequence[SourceText],
        thread: Sequence[ThreadMessage] = (),
    ) -> str:
        """The model's answer citing ``[n]``, from the numbered sources and their images.

        ``thread`` is quoted as untrusted context. Starts with
        ``rag.answer._prompts.NOT_FOUND`` when the sources lack the answer.
        """
        urls = await asyncio.gather(
            *(self._data_url(s.image) if s.image else _none() for s in sources)
        )
        messages = answer_messages(question, sources, urls, thread)
        return await self._complete(
            "answer", self.config.answer_model, messages, max_tokens=MAX_ANSWER_TOKENS
        )

    async def answer_stream(
        self,
        question: str,
        sources: Sequence[SourceText],
        thread: Sequence[ThreadMessage] = (),
    ) -> AsyncGenerator[str, None]:
        """``answer``, as the model writes it: the pieces of its text, in order.

        Retried like ``answer`` until the first piece arrives; after that a failure ends the
        stream with a ModelError (what was shown cannot be taken back).
        """
        urls = await asyncio.gather(
            *(self._data_url(s.image) if s.image else _none() for s in sources)
        )
        messages = answer_messages(question, sources, urls, thread)
        model = self.config.answer_model
        async with self._slots:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._total_timeout_s
            attempt = 0
            while True:
                limit = min(self.config.timeout_s, deadline - loop.time())
                started = False
                try:
                    async for piece in self._stream_attempt(model, messages, limit):
                        started = True
                        yield piece
                    return
                except (openai.OpenAIError, TimeoutError) as exc:
                    failure = _translate(
                        exc, role="answer", model=model, limit_s=self.config.timeout_s
                    )
                    delay = (
                        None
                        if started
                        else self._retry_delay(failure, attempt, deadline - loop.time())
                    )
                    if delay is None:
                        raise failure.error from exc
                attempt += 1
                logger.warning(
                    "answer model %s failed before streaming, retry %d in %.2fs",
                    model,
                    attempt,
                    delay,
                )
                await self._sleep(delay)

    async def _stream_attempt(
        self, model: str, messages: list[Message], limit_s: float
    ) -> AsyncIterator[str]:
        if limit_s <= 0:
            raise TimeoutError
        # The deadline bounds each wait for the server, never the caller's work between pieces.
        deadline = asyncio.get_running_loop().time() + limit_s
        async with asyncio.timeout_at(deadline):
            stream = await self._client.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=MAX_ANSWER_TOKENS,
                timeout=limit_s,
                stream=True,
            )
        try:
            pieces = aiter(stream)
            while True:
                async with asyncio.timeout_at(deadline):
                    chunk = await anext(pieces, None)
                if chunk is None:
                    return
                if chunk.choices and (piece := chunk.choices[0].delta.content):
                    yield piece
        finally:
            await stream.close()

    async def _data_url(self, image: bytes) -> str:
        return await asyncio.to_thread(image_data_url, image, max_side=self._max_image_side)

    async def _complete(
        self, role: str, model: str, messages: list[Message], *, max_tokens: int = MAX_TOKENS
    ) -> str:
        """One chat completion of at most ``max_tokens``, under the concurrency limit, retried."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._total_timeout_s
            attempt = 0
            while True:
                limit = min(self.config.timeout_s, deadline - loop.time())
                try:
                    return await self._attempt(role, model, messages, limit, max_tokens)
                except (openai.OpenAIError, TimeoutError) as exc:
                    failure = _translate(exc, role=role, model=model, limit_s=self.config.timeout_s)
                    delay = self._retry_delay(failure, attempt, deadline - loop.time())
                    if delay is None:
                        raise failure.error from exc
                attempt += 1
                logger.warning(
                    "%s model %s failed (%s), retry %d/%d in %.2fs",
                    role,
                    model,
                    type(failure.error).__name__,
                    attempt,
                    self.config.max_retries,
                    delay,
                )
                await self._sleep(delay)

    async def _attempt(
        self, role: str, model: str, messages: list[Message], limit_s: float, max_tokens: int
    ) -> str:
        if limit_s <= 0:
            raise TimeoutError
        started = time.perf_counter()
        # The client's timeout bounds each socket read; asyncio.timeout bounds the whole
        # attempt, so a server that trickles bytes cannot hold the caller forever.
        async with asyncio.timeout(limit_s):
            response = await self._client.chat.completions.create(
                model=model,
                messages=messages,
                max_completion_tokens=max_tokens,
                timeout=limit_s,
            )
        logger.debug("model %s answered in %.2fs", model, time.perf_counter() - started)
        if not response.choices:
            raise ModelUnavailable(
                _UNAVAILABLE.format(role=role),
                detail=f"{model}: a completion with no choices",
            )
        return response.choices[0].message.content or ""

    def _retry_delay(self, failure: _Failure, attempt: int, remaining_s: float) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if not failure.retryable or attempt >= self.config.max_retries:
            return None
        if failure.retry_after_s is not None:
            delay = min(failure.retry_after_s, self._max_retry_after_s)
        else:
            backoff = min(self._max_delay_s, self._base_delay_s * 2**attempt)
            delay = backoff * random.uniform(0.5, 1.0)  # jitter spreads out retrying callers
        # Waiting past the deadline only to time out is worse than failing now.
        return delay if delay < remaining_s else None


async def _none() -> None:
    return None


_UNAVAILABLE = (
    "The {role} model is unavailable right now (it returned server errors); "
    "please try again in a minute."
)
_UNREACHABLE = "The {role} model cannot be reached right now; please try again in a minute."
_TIMEOUT = "The {role} model did not answer within {limit:g} seconds; please try again in a minute."
_RATE_LIMITED = "The {role} model is rate-limiting folio right now; please try again in a minute."
_NO_QUOTA = (
    "The {role} model's account has run out of quota; ask whoever runs folio to check "
    "the OpenAI billing."
)
_MISCONFIGURED = (
    "The {role} model is not set up correctly, so folio cannot use it; ask whoever runs "
    "folio to check its model settings."
)


def _translate(exc: BaseException, *, role: str, model: str, limit_s: float) -> _Failure:
    """Turn one openai/timeout exception into the ModelError to raise and a retry verdict."""
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        message = _TIMEOUT.format(role=role, limit=limit_s)
        return _Failure(ModelTimeout(message, detail=f"{model}: timed out"), retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        detail = f"{model}: connection error: {exc}"
        return _Failure(ModelUnavailable(_UNREACHABLE.format(role=role), detail=detail), True)
    if not isinstance(exc, openai.APIStatusError):
        detail = f"{model}: {type(exc).__name__}: {exc}"
        return _Failure(ModelUnavailable(_UNAVAILABLE.format(role=role), detail=detail), False)
    status = exc.status_code
    detail = f"{model}: HTTP {status}: {exc.message}"
    retry_after = _retry_after_s(exc)
    if status == 429 and exc.code == "insufficient_quota":
        return _Failure(ModelUnavailable(_NO_QUOTA.format(role=role), detail=detail), False)
    if status == 429:
        error: ModelError = ModelRateLimited(_RATE_LIMITED.format(role=role), detail=detail)
        return _Failure(error, True, retry_after)
    if status >= 500 or status in _RETRYABLE_STATUS:
        error = ModelUnavailable(_UNAVAILABLE.format(role=role), detail=detail)
        return _Failure(error, True, retry_after)
    # 400/401/403/404/422: a wrong key, model name or base URL; retrying cannot help.
    return _Failure(ModelUnavailable(_MISCONFIGURED.format(role=role), detail=detail), False)


def _retry_after_s(exc: openai.APIStatusError) -> float | None:
    """The server's requested wait: ``retry-after-ms``, or ``Retry-After`` seconds or date."""
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
