"""The one Settings object (environment prefix SOURCING_), built once and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sourcing.retrieval.index import HNSW_MIN_PRODUCTS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCING_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="where embedded stores live")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means a SQLite file in data_dir"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    max_request_bytes: int = Field(default=1_000_000, ge=1024)

    embedder: str = Field(
        default="use", description="use | e5 | sentence-transformers | openai (see README)"
    )
    embedder_model: str = Field(
        default="", description="model directory (sentence-transformers) or model name (openai)"
    )
    embeddings_base_url: str = ""
    embeddings_api_key: str = ""
    qdrant_url: str = Field(default="", description="a Qdrant server; empty means embedded Edge")
    qdrant_api_key: str = ""
    qdrant_collection: str = "products"
    hnsw_min_products: int = Field(
        default=HNSW_MIN_PRODUCTS, ge=0, description="build HNSW only past this many products"
    )

    llm_base_url: str = Field(
        default="", description="an OpenAI-compatible endpoint; empty means offline mode"
    )
    llm_model: str = ""
    llm_api_key: str = Field(default="", description="empty for servers that need none")
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=5)
    max_tool_steps: int = Field(default=4, ge=1, le=8, description="tool rounds per turn")
    history_tokens: int = Field(default=3000, ge=0, description="history sent to the model")
    product_id_pattern: str = Field(
        default=r"p-\d{3,}", description="the catalog's product id shape (grounding check)"
    )

    alert_poll_s: float = Field(
        default=2.0, gt=0, le=60, description="how often a live alert stream looks for new ones"
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sourcing.db'}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index" / "products"

    @property
    def widget_key_path(self) -> Path:
        """The demo buyer's key for the demo page at /; written by `sourcing demo build`."""
        return self.data_dir / "demo" / "widget-key.txt"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"
