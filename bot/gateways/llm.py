"""The one module that talks to the model, on the official `openai` client.

Any OpenAI-compatible server works (OPENAI_BASE_URL). Answers are requested as strict JSON-schema
structured output whose schema carries every number's range, then validated here with pydantic.
Task judgements are validated one item at a time: a model that writes confidence 70 for one task
of 25 loses that one answer, not the other 24. Whatever cannot be used at all becomes
ModelOutputError (ModelUnavailableError when the model gave no answer), so the caller can fall
back to the rules score.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import openai
import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.errors import ModelOutputError, ModelUnavailableError
from bot.settings import Secret

log = logging.getLogger(__name__)

# JSON-schema keywords OpenAI's strict mode rejects for fine-tuned models (its structured-outputs
# guide, "Some type-specific keywords are not yet supported"): those models get the schema
# without them, and the per-item validation below still enforces the ranges.
_FINE_TUNED_UNSUPPORTED = frozenset({"minimum", "maximum", "multipleOf", "minItems", "maxItems"})

Score = Annotated[float, Field(strict=True, ge=0, le=100, description="0 to 100")]
Confidence = Annotated[
    float, Field(strict=True, ge=0, le=1, description="a fraction from 0 to 1: 0.7, not 70")
]


class JudgementOut(BaseModel):
    """One task's judgement as the model must write it; the bounds go into the sent schema."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    score: Score
    confidence: Confidence
    rationale: str
    suggested_sprint: Literal["Next", "Future", "Backlog"]

    @field_validator("rationale")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the rationale is empty")
        return value


class JudgementBatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judgements: list[JudgementOut]


class SummaryOut(BaseModel):
    """The stand-up digest's summary, as the model must answer it."""

    model_config = ConfigDict(extra="forbid")

    summary: str


class ThemeOut(BaseModel):
    """One retrospective theme and the tasks (ids) that support it."""

    model_config = ConfigDict(extra="forbid")

    text: str
    task_ids: list[str]


class ThemesOut(BaseModel):
    """A retrospective's themes, as the model must answer them."""

    model_config = ConfigDict(extra="forbid")

    themes: list[ThemeOut]


class CriteriaOut(BaseModel):
    """A triage card's acceptance criteria, as the model must answer them (issue 13)."""

    model_config = ConfigDict(extra="forbid")

    criteria: list[Annotated[str, StringConstraints(min_length=3, max_length=200)]] = Field(
        min_length=1, max_length=6
    )


class PointsOut(BaseModel):
    """One task's adjusted Story Points, as the model must write it (issue 13 §4)."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    points: Annotated[float, Field(strict=True, ge=0, le=1000, allow_inf_nan=False)]


class PointsBatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    estimates: list[PointsOut]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Rejected:
    """One item of an answer that failed validation: the task it names (if any) and why."""

    task_id: str
    reason: str


@dataclass(frozen=True)
class JudgeAnswer:
    """A batch answer sorted item by item: valid judgements as plain dicts, and the rest."""

    judgements: list[dict[str, Any]]
    rejected: list[Rejected]
    usage: Usage


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

    def judge(self, messages: list[dict[str, str]]) -> JudgeAnswer:
        """Ask for task judgements; keep each valid item, report each invalid one with why.

        Raises ModelOutputError only when the answer as a whole is unusable.
        """
        data, usage = self._complete(messages, JudgementBatchOut)
        items = data.get("judgements") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ModelOutputError("malformed answer (no judgements list)")
        good: list[dict[str, Any]] = []
        bad: list[Rejected] = []
        for item in items:
            try:
                good.append(JudgementOut.model_validate(item).model_dump())
            except pydantic.ValidationError as exc:
                task_id = item.get("task_id") if isinstance(item, dict) else None
                bad.append(Rejected(str(task_id) if task_id is not None else "", _why(exc)))
        return JudgeAnswer(judgements=good, rejected=bad, usage=usage)

    def summarize(self, messages: list[dict[str, str]]) -> tuple[str, Usage]:
        """Ask for a stand-up summary ({"summary": str}); raise ModelOutputError when unusable."""
        data, usage = self._complete(messages, SummaryOut)
        try:
            return SummaryOut.model_validate(data).summary, usage
        except pydantic.ValidationError as exc:
            raise ModelOutputError(f"malformed answer ({_why(exc)})") from None

    def themes(self, messages: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Ask for a retrospective's themes; each {"text", "task_ids"} (checked by the caller)."""
        data, _usage = self._complete(messages, ThemesOut)
        try:
            return ThemesOut.model_validate(data).model_dump()["themes"]
        except pydantic.ValidationError as exc:
            raise ModelOutputError(f"malformed answer ({_why(exc)})") from None

    def draft_criteria(self, messages: list[dict[str, str]]) -> list[str]:
        """Ask for acceptance criteria ({"criteria": [str]}); ModelOutputError when unusable."""
        data, _ = self._complete(messages, CriteriaOut)
        try:
            return [" ".join(c.split()) for c in CriteriaOut.model_validate(data).criteria]
        except pydantic.ValidationError as exc:
            raise ModelOutputError(f"malformed answer ({_why(exc)})") from None

    def adjust_estimates(self, messages: list[dict[str, str]]) -> dict[str, float]:
        """Ask for adjusted Story Points; {task id: points} of the valid items (the caller checks
        ids and the scale). ModelOutputError when the answer as a whole is unusable."""
        data, _ = self._complete(messages, PointsBatchOut)
        items = data.get("estimates") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ModelOutputError("malformed answer (no estimates list)")
        points: dict[str, float] = {}
        for item in items:
            try:
                valid = PointsOut.model_validate(item)
            except pydantic.ValidationError as exc:
                log.warning("an estimate of the model was refused: %s", _why(exc))
                continue
            points.setdefault(valid.task_id, valid.points)
        return points

    def response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        """The strict json_schema response_format sent for `schema`, ranges included."""
        body = schema.model_json_schema()
        if self.model.startswith("ft:"):
            body = _without(body, _FINE_TUNED_UNSUPPORTED)
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "strict": True, "schema": body},
        }

    def _complete(
        self, messages: list[dict[str, str]], schema: type[BaseModel]
    ) -> tuple[Any, Usage]:
        """One structured-output call; return the decoded JSON, or raise ModelOutputError."""
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                response_format=self.response_format(schema),  # type: ignore[arg-type]
                temperature=0,
            )
        except openai.APITimeoutError:
            raise ModelUnavailableError("the model timed out") from None
        except openai.APIConnectionError:
            raise ModelUnavailableError("the model server is unreachable") from None
        except openai.APIStatusError as exc:
            if exc.status_code == 429 or exc.status_code >= 500:
                raise ModelUnavailableError(
                    f"the model server answered {exc.status_code}"
                ) from None
            raise ModelOutputError(f"the model server answered {exc.status_code}") from None
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            raise ModelOutputError("the answer was cut off (truncated JSON)")
        if choice.finish_reason == "content_filter":
            raise ModelOutputError("the answer was withheld by the content filter")
        if choice.message.refusal:
            raise ModelOutputError("the model refused")
        if not choice.message.content:
            raise ModelOutputError("empty answer")
        try:
            data = json.loads(choice.message.content)
        except ValueError:
            raise ModelOutputError("malformed answer (not JSON)") from None
        usage = completion.usage
        return data, Usage(
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


def _why(exc: pydantic.ValidationError) -> str:
    """The first validation error in a few words, with the offending value (trimmed)."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "answer"
    value = repr(error.get("input"))[:40]
    return f"{where} {value}: {error['msg'].lower()}"


def _without(schema: Any, keywords: frozenset[str]) -> Any:
    if isinstance(schema, dict):
        return {k: _without(v, keywords) for k, v in schema.items() if k not in keywords}
    if isinstance(schema, list):
        return [_without(v, keywords) for v in schema]
    return schema
