"""Server settings (a pydantic model at the boundary): every field carries its help text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Interface to bind (loopback default).")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port).")
    api_key: str | None = Field(
        default=None, description="Require `Authorization: Bearer KEY` on every /v1 request."
    )
    model: str | None = Field(
        default=None,
        description="Base model served: smollm2-135m (default), a folder, .gguf or openai: spec.",
    )
    engine: str | None = Field(
        default=None,
        description="An OpenAI-compatible engine (vLLM, SGLang) that runs the fine-tuned models: "
        "`openai@BASE_URL`, each ft: model asked there for the model named after its run (as "
        "`tailor export --for vllm` names it), or a spec with `{run}` in the model, e.g. "
        "`openai:BASE:{run}@BASE_URL`; tailor still applies the prompt program and parser.",
    )
    batching: bool = Field(default=True, description="Batch concurrent chat requests together.")
    max_batch: int = Field(default=8, ge=1, description="Most requests generated in one batch.")
    batch_wait_ms: float = Field(
        default=5.0, ge=0, description="How long a batch waits for more requests once one came."
    )
    max_tokens_limit: int = Field(default=1024, ge=1, description="Largest `max_tokens` accepted.")
    default_max_tokens: int = Field(
        default=256, ge=1, description="`max_tokens` when a request gives none."
    )
    max_request_bytes: int = Field(
        default=1 << 20, ge=1024, description="Largest JSON request body in bytes."
    )
    max_file_bytes: int = Field(
        default=64 << 20, ge=1024, description="Largest uploaded file in bytes."
    )
    max_example_tokens: int = Field(
        default=4096, ge=16, description="Token limit per fine-tuning example (all its turns)."
    )
    min_examples: int = Field(
        default=10, ge=1, description="Fewest examples a training file may have."
    )
    finetune: dict[str, Any] = Field(
        default_factory=lambda: {"metric_limit": 0},
        description="FinetuneConfig fields applied to every fine-tuning job after its own "
        "hyper-parameters (e.g. max_steps, to bound jobs on a CPU).",
    )
    loaded_models: int = Field(
        default=2, ge=1, description="Models kept in memory at once (least recently used out)."
    )
