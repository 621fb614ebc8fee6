"""Request and response bodies of the API (separate models, so the schema documents both)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model


class Prediction(BaseModel):
    label: str = Field(
        description="the most probable class; multi-label models: every label at or above "
        "its threshold, ';'-joined (e.g. 'joy;surprise')"
    )
    score: float = Field(description="probability of that class (multi-label: the highest)")
    scores: dict[str, float] = Field(description="probability of every class")
    intensity: float | None = Field(
        None,
        description="fine-grained models only: the expected place on the label scale, from "
        "-1 (lowest class) to +1 (highest); orders 'Absolutely incredible' > 'Good' > "
        "'Somewhat good' within one class",
    )


class PredictResponse(BaseModel):
    predictions: list[Prediction] = Field(description="one per input text, in input order")
    model: str
    backend: str


class WordAttribution(BaseModel):
    word: str
    attribution: float = Field(description="integrated-gradients share of the prediction")


class ExplainResponse(Prediction):
    words: list[WordAttribution]
    method: str = "integrated gradients"


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def request_models(max_texts: int, max_chars: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """The predict and explain request bodies, with this service's limits in their schema."""
    text = Annotated[str, StringConstraints(max_length=max_chars, strict=True)]
    strict = ConfigDict(extra="forbid")
    predict = create_model(
        "PredictRequest",
        __config__=strict,
        texts=(list[text], Field(min_length=1, max_length=max_texts, description="reviews")),
        aspects=(
            list[text] | None,
            Field(
                None,
                max_length=max_texts,
                description="aspect models only, and required there: the aspect each text is "
                "judged on, one per text (e.g. texts ['The screen is gorgeous but the battery "
                "dies by noon'], aspects ['battery'] -> negative)",
            ),
        ),
    )
    # a text without a word has nothing to explain: refused as a bad request, not a 500
    words = Annotated[str, StringConstraints(max_length=max_chars, strict=True, pattern=r"\S")]
    explain = create_model(
        "ExplainRequest",
        __config__=strict,
        text=(words, Field(description="one review, with at least one word")),
    )
    return predict, explain
