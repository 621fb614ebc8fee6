"""Request and response bodies of the API (separate models, so the schema documents both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from bertsent.data.tasks import ASPECT_COLUMN, TASK_KINDS, Task


class PredictionBase(BaseModel):
    label: str = Field(
        description="the most probable class; multi-label models: every label at or above "
        "its threshold, ';'-joined (e.g. 'joy;surprise')"
    )
    score: float = Field(description="probability of that class (multi-label: the highest)")
    scores: dict[str, float] = Field(description="probability of every class")


class WordAttribution(BaseModel):
    word: str
    attribution: float = Field(description="integrated-gradients share of the prediction")


def response_models(task: Task | None) -> tuple[type[BaseModel], type[BaseModel]]:
    """The predict and explain response bodies, in the shape this model's task answers:
    its :attr:`~bertsent.data.tasks.Task.response_fields` required (a fine-grained
    model's ``intensity``, a multi-label model's ``labels``), other tasks' absent. None:
    the model is not loaded yet, so every task's fields are optional."""
    fields: dict[str, Any] = {}
    if task is None:
        for kind in TASK_KINDS:
            for name, (value, described) in kind.response_fields.items():
                only = f"{kind.name} models only: {described}"
                fields[name] = (value | None, Field(None, description=only))
    else:
        for name, (value, described) in task.response_fields.items():
            fields[name] = (value, Field(description=described))
    prediction = create_model("Prediction", __base__=PredictionBase, **fields)
    predict = create_model(
        "PredictResponse",
        predictions=(list[prediction], Field(description="one per input text, in input order")),  # type: ignore[valid-type]
        model=(str, ...),
        backend=(str, ...),
    )
    explain = create_model(
        "ExplainResponse",
        __base__=prediction,
        words=(list[WordAttribution], ...),
        explained_label=(
            str,
            Field(
                description="the label the words are attributed to: the predicted one (a "
                "multi-label answer: its most probable label)"
            ),
        ),
        method=(str, "integrated gradients"),
    )
    return predict, explain


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ASPECTS_DESCRIPTION = (
    "the aspect each text is judged on, one per text (e.g. texts ['The screen is gorgeous "
    "but the battery dies by noon'], aspects ['battery'] -> negative)"
)


def request_models(
    max_texts: int, max_chars: int, input_names: Sequence[str] | None = None
) -> tuple[type[BaseModel], type[BaseModel]]:
    """The predict and explain request bodies, with this service's limits in their schema.

    ``input_names`` are what the model reads (its task's): ``aspects`` is then required
    for an aspect model and absent for any other. Unknown (None: the model is not
    loaded yet), ``aspects`` is optional, and checked against the model per request.
    """
    text = Annotated[str, StringConstraints(max_length=max_chars, strict=True)]
    strict = ConfigDict(extra="forbid")
    aspects: dict[str, Any] = {}
    if input_names is None:
        aspects["aspects"] = (
            list[text] | None,
            Field(
                None, max_length=max_texts, description=f"aspect models only: {ASPECTS_DESCRIPTION}"
            ),
        )
    elif ASPECT_COLUMN in input_names:
        aspects["aspects"] = (
            list[text],
            Field(min_length=1, max_length=max_texts, description=ASPECTS_DESCRIPTION),
        )
    predict = create_model(
        "PredictRequest",
        __config__=strict,
        texts=(list[text], Field(min_length=1, max_length=max_texts, description="reviews")),
        **aspects,
    )
    # a text without a word has nothing to explain: refused as a bad request, not a 500
    words = Annotated[str, StringConstraints(max_length=max_chars, strict=True, pattern=r"\S")]
    explain = create_model(
        "ExplainRequest",
        __config__=strict,
        text=(words, Field(description="one review, with at least one word")),
    )
    return predict, explain
