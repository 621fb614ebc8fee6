"""Service settings, from arguments or ``BERTSENT_SERVE_*`` environment variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bertsent.errors import ConfigError

ENV_PREFIX = "BERTSENT_SERVE_"


class ServeSettings(BaseSettings):
    """Everything the service needs to know; limits protect it from any one client.

    >>> ServeSettings(model_dir="runs/demo/model", backend="onnx-int8")  # doctest: +SKIP
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    model_dir: str
    backend: str = "auto"
    threads: int | None = Field(
        default=None, ge=1, description="inference threads (default: all cores)"
    )
    # micro-batching: concurrent requests merge into one forward pass
    max_batch_size: int = Field(default=32, ge=1, description="texts merged into one forward pass")
    # merged texts are sorted by length and run in small padded batches: 64 random
    # lengths padded to the longest would waste about half the compute (measured with
    # benchmarks/serve_load.py: 16 -> 60%, 8 -> 72% of the offline engine's rate)
    engine_batch_size: int = Field(default=8, ge=1, description="texts per padded forward")
    max_wait_ms: float = Field(
        default=2.0, ge=0, description="how long a batch waits for more texts"
    )
    max_queue_texts: int = Field(
        default=512, ge=1, description="texts waiting before 503s are sent"
    )
    # limits per request
    max_texts_per_request: int = Field(default=64, ge=1)
    max_chars_per_text: int = Field(default=5000, ge=1)
    # 64 texts of 5,000 characters may take 3.8 MB of JSON: non-ASCII escaped as \uXXXX
    # is 6 bytes a character, an emoji 12; the default body limit lets every valid one in
    max_body_bytes: int = Field(default=4_000_000, ge=1)
    # bodies held at once, over every connection: 2,048 connections each holding almost
    # 4 MB would be 8 GB; past this budget a request is answered 503 before it is read
    max_buffered_bytes: int = Field(
        default=256_000_000, ge=1, description="request bodies held in memory at once"
    )
    request_timeout_s: float = Field(default=10.0, gt=0, description="answer 504 after this long")
    # limits per connection: a client that sends its request slowly (slow-loris) or
    # opens connections without using them must not hold sockets for long
    header_timeout_s: float = Field(
        default=5.0, gt=0, description="time from connect (or first byte) to the end of headers"
    )
    body_timeout_s: float | None = Field(
        default=None, gt=0, description="time to receive the body (default: request_timeout_s)"
    )
    max_header_bytes: int = Field(default=65_536, ge=1024, description="request line + headers")
    max_connections: int = Field(
        default=2048, ge=1, description="open connections; more are answered 503 and closed"
    )
    graceful_timeout_s: float = Field(
        default=30.0, ge=0, description="time to finish requests in flight on shutdown"
    )
    api_key: SecretStr | None = Field(
        default=None, description="require this in the X-API-Key header"
    )
    # the explanation page: integrated gradients, one at a time
    explain: bool = True
    explain_steps: int = Field(default=32, ge=2, le=300)

    @field_validator("api_key")
    @classmethod
    def _usable_key(cls, key: SecretStr | None) -> SecretStr | None:
        """A blank key would let anyone in; one with outer spaces could never match."""
        if key is None:
            return None
        value = key.get_secret_value()
        if not value.strip():
            raise ValueError("the API key is empty or only whitespace")
        if value != value.strip():
            raise ValueError(
                "the API key starts or ends with whitespace, which HTTP strips from headers"
            )
        if not (value.isascii() and value.isprintable()):
            raise ValueError(
                "the API key has characters outside printable ASCII: HTTP headers carry "
                "them as latin-1 and browsers refuse them, so no client could send it"
            )
        return key

    @model_validator(mode="after")
    def _queue_holds_a_request(self) -> ServeSettings:
        """A request the queue can never hold would get 503 "retry" forever."""
        if self.max_queue_texts < self.max_texts_per_request:
            raise ValueError(
                f"max_queue_texts ({self.max_queue_texts}) is below max_texts_per_request "
                f"({self.max_texts_per_request}): a full request could never be queued"
            )
        if self.max_buffered_bytes < self.max_body_bytes:  # a large body: 503 "retry" forever
            raise ValueError(
                f"max_buffered_bytes ({self.max_buffered_bytes}) is below max_body_bytes "
                f"({self.max_body_bytes}): a body within the limit could never be received"
            )
        return self

    @property
    def body_timeout(self) -> float:
        """Seconds a request may take to send its body: the request timeout unless set."""
        return self.body_timeout_s if self.body_timeout_s is not None else self.request_timeout_s


def load_settings(**options: Any) -> ServeSettings:
    """Settings from ``options`` over ``BERTSENT_SERVE_*`` variables; bad values as ConfigError.

    >>> load_settings(model_dir="runs/demo/model", request_timeout_s=5)  # doctest: +SKIP
    """
    try:
        return ServeSettings(**options)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if not field:  # settings that contradict each other
            raise ConfigError(
                f"serve settings: {message}", hint="see `bertsent serve --help`"
            ) from None
        if field in options:
            raise ConfigError(
                f"serve setting {field}: {message}", hint="see `bertsent serve --help`"
            ) from None
        variable = f"{ENV_PREFIX}{field.upper()}"
        raise ConfigError(
            f"serve setting {field} (from ${variable}): {message}",
            hint=f"fix or unset {variable}",
        ) from None
