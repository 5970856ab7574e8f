"""The one Settings object (environment prefix SOURCING_), built once and passed down."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sourcing.retrieval.index import HNSW_MIN_PRODUCTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCING_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="where embedded stores live")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means a SQLite file in data_dir"
    )
    db_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="SQLite busy timeout, PostgreSQL connect and pool wait; past it a 503",
    )
    db_max_connections: int = Field(
        default=50, ge=2, le=1000, description="pooled connections; keep above 40 worker threads"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    log_format: Literal["json", "console"] = Field(
        default="json", description="json: one object a line; console: for a terminal"
    )
    demo: bool = Field(
        default=False,
        description="serve the demo page at / (signed in as demo_buyer) and an open /metrics",
    )
    demo_buyer: str = Field(default="b-0001", max_length=64, description="the demo page's buyer")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost", "127.0.0.1"],
        description="Host header values served (comma-separated or JSON; '*.example.com' works)",
    )
    widget_token_ttl_s: int = Field(
        default=900, ge=60, le=86_400, description="how long a minted widget token signs in"
    )
    metrics_token: str = Field(
        default="",
        description="a bearer token /metrics accepts besides admin keys; open only in the demo",
    )
    shutdown_timeout_s: int = Field(
        default=30,
        ge=1,
        le=600,
        description="how long a stopping server lets open requests and chat turns finish",
    )
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    max_feed_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="a feed file posted to /v1/feeds (streamed to disk, never held in memory)",
    )
    run_jobs: bool = Field(
        default=True, description="run submitted jobs (feed ingests) in this server process"
    )
    daily_jobs_at: time = Field(
        default=time(6, 0),
        description="when the server queues the day's alert run and supplier snapshots (local)",
    )
    schedule_jobs: bool = Field(
        default=True, description="queue the daily jobs from this server (any replica may)"
    )
    job_lease_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="a job whose runner is silent this long (killed) is claimed again",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[], description="web origins that may embed the widget (comma-separated or JSON)"
    )
    hsts: bool = Field(default=False, description="send Strict-Transport-Security (behind HTTPS)")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="/v1 requests per API key (keyless: per client address)"
    )
    chat_rate_limit_per_minute: int = Field(
        default=60, ge=1, description="chat turns per API key, on top of the request limit"
    )
    redis_url: str = Field(
        default="", description="a Redis shared by replicas for rate limits; empty: in-process"
    )
    redis_timeout_s: float = Field(default=0.5, gt=0, le=30, description="Redis connect and call")

    embedder: str = Field(
        default="use", description="use | e5 | sentence-transformers | openai (see README)"
    )
    embedder_model: str = Field(
        default="", description="model directory (sentence-transformers) or model name (openai)"
    )
    embeddings_base_url: str = ""
    embeddings_api_key: str = ""
    embeddings_timeout_s: float = Field(default=30.0, gt=0, le=600)
    qdrant_url: str = Field(default="", description="a Qdrant server; empty means embedded Edge")
    qdrant_api_key: str = ""
    qdrant_collection: str = "products"
    qdrant_timeout_s: int = Field(default=10, ge=1, le=600, description="per Qdrant server call")
    hnsw_min_products: int = Field(
        default=HNSW_MIN_PRODUCTS, ge=0, description="build HNSW only past this many products"
    )

    llm_base_url: str = Field(
        default="", description="an OpenAI-compatible endpoint; empty means offline mode"
    )
    llm_model: str = ""
    llm_api_key: str = Field(default="", description="empty for servers that need none")
    llm_timeout_s: float = Field(
        default=30.0, gt=0, description="per call: connect, and the wait for each streamed chunk"
    )
    llm_turn_deadline_s: float = Field(
        default=120.0, gt=0, le=3600, description="the model part of a turn, all steps and retries"
    )
    llm_max_retries: int = Field(default=2, ge=0, le=5)
    llm_max_tokens: int = Field(default=2048, ge=16, description="completion tokens per model call")
    max_tool_steps: int = Field(default=4, ge=1, le=8, description="tool rounds per turn")
    history_tokens: int = Field(default=3000, ge=0, description="history sent to the model")
    max_turn_tokens: int = Field(
        default=32_000, ge=256, description="model tokens per turn; past it no more tool rounds"
    )
    max_message_chars: int = Field(default=4000, ge=1, le=100_000, description="per chat message")
    # At most 100: the stored history read back per turn is the first 200 messages.
    max_conversation_turns: int = Field(
        default=50, ge=1, le=100, description="buyer turns in one stored conversation"
    )
    product_id_pattern: str = Field(
        default=r"p-\d{3,}", description="the catalog's product id shape (grounding check)"
    )

    alert_poll_s: float = Field(
        default=2.0, gt=0, le=60, description="how often a live alert stream looks for new ones"
    )

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
            return [str(item).strip().rstrip("/") for item in items if str(item).strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sourcing.db'}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index" / "products"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"
