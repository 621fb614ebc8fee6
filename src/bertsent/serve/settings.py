"""Service settings, from arguments or ``BERTSENT_SERVE_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Everything the service needs to know; limits protect it from any one client.

    >>> ServeSettings(model_dir="runs/demo/model", backend="onnx-int8")  # doctest: +SKIP
    """

    model_config = SettingsConfigDict(env_prefix="BERTSENT_SERVE_", frozen=True)

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
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    request_timeout_s: float = Field(default=10.0, gt=0, description="answer 504 after this long")
    api_key: SecretStr | None = Field(
        default=None, description="require this in the X-API-Key header"
    )
    # the explanation page: integrated gradients, one at a time
    explain: bool = True
    explain_steps: int = Field(default=32, ge=2, le=300)
