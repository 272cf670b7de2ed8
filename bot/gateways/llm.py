"""The one module that talks to the model, on the official `openai` client.

Any OpenAI-compatible server works (OPENAI_BASE_URL). Answers are requested as JSON-schema
structured output and parsed by pydantic; whatever cannot be used becomes ModelOutputError, so
the caller can fall that batch back to the rules score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import openai
import pydantic
from pydantic import BaseModel, ConfigDict

from bot.errors import ModelOutputError
from bot.settings import Secret

T = TypeVar("T", bound=BaseModel)


class JudgementOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    score: float
    confidence: float
    rationale: str
    suggested_sprint: Literal["Next", "Future", "Backlog"]


class JudgementBatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judgements: list[JudgementOut]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LlmGateway:
    def __init__(
        self,
        *,
        api_key: Secret,
        base_url: str | None,
        model: str,
        timeout: float = 45.0,
        max_retries: int = 1,
    ) -> None:
        self.model = model
        self._client = openai.OpenAI(
            api_key=api_key.value, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def close(self) -> None:
        self._client.close()

    def judge(self, messages: list[dict[str, str]]) -> tuple[list[dict[str, Any]], Usage]:
        """Ask for task judgements; return them as plain dicts, or raise ModelOutputError."""
        parsed, usage = self._parse(messages, JudgementBatchOut)
        return [j.model_dump() for j in parsed.judgements], usage

    def summarize(self, messages: list[dict[str, str]]) -> tuple[str, Usage]:
        """Ask for a stand-up summary ({"summary": str}); raise ModelOutputError when unusable."""
        parsed, usage = self._parse(messages, SummaryOut)
        return parsed.summary, usage

    def _parse(self, messages: list[dict[str, str]], schema: type[T]) -> tuple[T, Usage]:
        """One structured-output call; anything unusable becomes ModelOutputError."""
        try:
            completion = self._client.chat.completions.parse(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                response_format=schema,
                temperature=0,
            )
        except openai.LengthFinishReasonError:
            raise ModelOutputError("the answer was cut off (truncated JSON)") from None
        except openai.ContentFilterFinishReasonError:
            raise ModelOutputError("the answer was withheld by the content filter") from None
        except openai.APITimeoutError:
            raise ModelOutputError("the model timed out") from None
        except openai.APIConnectionError:
            raise ModelOutputError("the model server is unreachable") from None
        except openai.APIStatusError as exc:
            raise ModelOutputError(f"the model server answered {exc.status_code}") from None
        except (pydantic.ValidationError, ValueError) as exc:
            raise ModelOutputError(f"malformed answer ({type(exc).__name__})") from None
        choice = completion.choices[0]
        if choice.message.refusal:
            raise ModelOutputError("the model refused")
        parsed = choice.message.parsed
        if parsed is None:
            raise ModelOutputError("empty answer")
        usage = completion.usage
        return parsed, Usage(
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


class SummaryOut(BaseModel):
    """The stand-up digest's summary, as the model must answer it."""

    model_config = ConfigDict(extra="forbid")

    summary: str
