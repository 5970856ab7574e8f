"""The composition root, the one bootstrap: `System` builds every long-lived part once from
Settings (engine, index, embedder, search, skills, assistant, bus), for the server, every command,
the eval commands and the benchmarks; tests override a part by passing it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial

import httpx
from pydantic import SecretStr
from qdrant_client import QdrantClient
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.assistant import Assistant, AssistantDeps, AssistantOptions
from sourcing.agents.llm import LLMConfig, ResilientChat, build_chat_model
from sourcing.agents.router import IntentRouter
from sourcing.agents.skills.deps import SkillDeps
from sourcing.app.observability import Metrics, TimedProductSearch
from sourcing.app.ratelimit import (
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_redis_client,
)
from sourcing.app.settings import Settings
from sourcing.app.subscribers import build_bus
from sourcing.catalog_sync.baskets import load_copurchase
from sourcing.catalog_sync.bus import CatalogBus
from sourcing.domain.db import make_engine, migrate
from sourcing.domain.errors import ConfigurationError
from sourcing.domain.repositories.reference import ReferenceRepository
from sourcing.prompts.loader import PromptLibrary
from sourcing.retrieval.bridge import load_cedict
from sourcing.retrieval.embedders import Embedder, build_embedder
from sourcing.retrieval.index import (
    ClientProductIndex,
    EdgeProductIndex,
    IndexMeta,
    ProductIndex,
)
from sourcing.retrieval.indexer import Indexer
from sourcing.retrieval.knowledge import KnowledgeIndex
from sourcing.retrieval.query_parser import load_query_vocabulary
from sourcing.retrieval.rerank import Reranker
from sourcing.retrieval.search import ProductSearch


@dataclass(frozen=True)
class SearchServices:
    embedder: Embedder
    index: ProductIndex
    indexer: Indexer
    search: ProductSearch
    http_clients: list[httpx.Client] = field(default_factory=list)

    def optimize_if_large(self, min_products: int) -> bool:
        """Build HNSW on the embedded index once it is large enough to need it.

        The first build blocks for minutes at 100k products, later ones only index what
        changed; it runs from the command line after bulk work, never on a request.
        """
        if not isinstance(self.index, EdgeProductIndex) or self.index.count() < min_products:
            return False
        self.index.optimize()
        return True

    def close(self) -> None:
        self.index.close()
        for client in self.http_clients:
            client.close()


@dataclass(frozen=True)
class ModelClients:
    """The chat model behind its resilience layer, and the HTTP clients it owns."""

    chat: ResilientChat
    http_client: httpx.Client
    http_async_client: httpx.AsyncClient

    async def aclose(self) -> None:
        self.http_client.close()
        await self.http_async_client.aclose()


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    search: SearchServices
    assistant: Assistant
    model: ModelClients | None = None
    limiter: RateLimiter = field(default_factory=InProcessRateLimiter)
    # None: the app builds its own registry (hand-assembled containers in tests).
    metrics: Metrics | None = None
    bus: CatalogBus | None = None  # None: the app subscribes the standard consequences

    def catalog_bus(self) -> CatalogBus:
        return self.bus or build_bus(
            self.engine, self.search.indexer, self.search.search, self.assistant.deps.skills
        )

    def close(self) -> None:
        """Closes what sync callers opened; the app's lifespan calls `aclose` instead."""
        if self.model is not None:
            self.model.http_client.close()
        self.limiter.close()
        self.search.close()
        self.engine.dispose()

    async def aclose(self) -> None:
        if self.model is not None:
            await self.model.aclose()
        self.close()


def build_engine(settings: Settings, *, run_migrations: bool = True) -> Engine:
    engine = make_engine(
        settings.resolved_database_url,
        timeout_s=settings.db_timeout_s,
        max_connections=settings.db_max_connections,
    )
    if run_migrations:
        migrate(engine)
    return engine


def build_embedder_from(settings: Settings, http_clients: list[httpx.Client]) -> Embedder:
    http_client = None
    if settings.embedder == "openai":
        http_client = httpx.Client(timeout=settings.embeddings_timeout_s)
        http_clients.append(http_client)
    return build_embedder(
        settings.embedder,
        model=settings.embedder_model,
        base_url=settings.embeddings_base_url,
        api_key=settings.embeddings_api_key,
        http_client=http_client,
    )


def build_qdrant_client(settings: Settings) -> QdrantClient:
    """A client for SOURCING_QDRANT_URL whose every call gives up after qdrant_timeout_s."""
    return QdrantClient(
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key or None,
        timeout=settings.qdrant_timeout_s,
    )


def open_index(settings: Settings, meta: IndexMeta, *, recreate: bool = False) -> ProductIndex:
    """The embedded Edge shard under data_dir, or a collection on SOURCING_QDRANT_URL."""
    if settings.qdrant_url:
        client = build_qdrant_client(settings)
        return ClientProductIndex.open(client, settings.qdrant_collection, meta, recreate=recreate)
    return EdgeProductIndex.open(settings.index_path, meta, recreate=recreate)


def open_stored_index(settings: Settings) -> ProductIndex | None:
    """The configured index opened as it was built, whatever the embedder now (for backups);
    None where there is none yet."""
    if settings.qdrant_url:
        probe = build_qdrant_client(settings)
        meta = ClientProductIndex.stored_meta(probe, settings.qdrant_collection)
        probe.close()
    else:
        meta = EdgeProductIndex.stored_meta(settings.index_path)
    return None if meta is None else open_index(settings, meta)


def build_search(
    settings: Settings,
    engine: Engine,
    *,
    embedder: Embedder | None = None,
    recreate_index: bool = False,
    metrics: Metrics | None = None,
) -> SearchServices:
    http_clients: list[httpx.Client] = []
    embedder = embedder or build_embedder_from(settings, http_clients)
    meta = IndexMeta(embedder=embedder.name, dim=embedder.dim)
    index = open_index(settings, meta, recreate=recreate_index)
    build = partial(TimedProductSearch, metrics.search_latency) if metrics else ProductSearch
    search = build(
        engine=engine,
        index=index,
        embedder=embedder,
        vocabulary=load_query_vocabulary(),
        reranker=Reranker.packaged(),
        cedict=load_cedict(),
    )
    return SearchServices(embedder, index, Indexer(engine, index, embedder), search, http_clients)


def build_model(settings: Settings) -> ModelClients | None:
    """The chat model when an endpoint is configured; None means the offline planner answers."""
    if not settings.llm_base_url:
        return None
    if not settings.llm_model:
        raise ConfigurationError("SOURCING_LLM_MODEL is required with SOURCING_LLM_BASE_URL")
    config = LLMConfig(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        # Local servers take any key; the client library insists on one.
        api_key=SecretStr(settings.llm_api_key or "unused"),
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
    )
    timeout = httpx.Timeout(settings.llm_timeout_s, connect=min(5.0, settings.llm_timeout_s))
    http_client = httpx.Client(timeout=timeout)
    http_async_client = httpx.AsyncClient(timeout=timeout)
    model = build_chat_model(config, http_client=http_client, http_async_client=http_async_client)
    return ModelClients(ResilientChat.from_config(model, config), http_client, http_async_client)


def assistant_options(settings: Settings) -> AssistantOptions:
    """The turn's bounds (tool rounds, tokens, message and conversation caps) from Settings."""
    return AssistantOptions(
        max_tool_steps=settings.max_tool_steps,
        history_tokens=settings.history_tokens,
        model_deadline_s=settings.llm_turn_deadline_s,
        max_turn_tokens=settings.max_turn_tokens,
        max_conversation_turns=settings.max_conversation_turns,
        max_message_chars=settings.max_message_chars,
        product_id_pattern=settings.product_id_pattern,
    )


def build_assistant(
    settings: Settings,
    engine: Engine,
    search: SearchServices,
    model: ModelClients | None = None,
) -> Assistant:
    """The knowledge base is read once here: restart (or a later reload route) to pick up edits."""
    with Session(engine) as session:
        docs = ReferenceRepository(session).knowledge_docs()
    skills = SkillDeps(
        engine=engine,
        search=search.search,
        knowledge=KnowledgeIndex.from_docs(docs, search.embedder),
        prompts=PromptLibrary(),
        router=IntentRouter(search.embedder),
        copurchase=load_copurchase(engine),
    )
    options = assistant_options(settings)
    chat = model.chat if model else None
    return Assistant(AssistantDeps(skills=skills, chat=chat, options=options))


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Shared through Redis when SOURCING_REDIS_URL is set, else this process's own."""
    if not settings.redis_url:
        return InProcessRateLimiter()
    client = build_redis_client(settings.redis_url, timeout_s=settings.redis_timeout_s)
    return RedisRateLimiter(client)


class System:
    """Each part built when first asked for, at most once; `close` closes what was built.
    A command that only needs the database never loads the embedding model."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        recreate_index: bool = False,
        run_migrations: bool = True,
        metrics: bool = False,
    ) -> None:
        self.settings = settings
        self._embedder, self._recreate, self._migrate = embedder, recreate_index, run_migrations
        self._with_metrics = metrics
        self._built: list[str] = []

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def engine(self) -> Engine:
        self._built.append("engine")
        return build_engine(self.settings, run_migrations=self._migrate)

    @cached_property
    def metrics(self) -> Metrics | None:
        return Metrics(self.engine) if self._with_metrics else None

    @cached_property
    def search(self) -> SearchServices:
        self._built.append("search")
        return build_search(
            self.settings,
            self.engine,
            embedder=self._embedder,
            recreate_index=self._recreate,
            metrics=self.metrics,
        )

    @cached_property
    def model(self) -> ModelClients | None:
        self._built.append("model")
        return build_model(self.settings)

    @cached_property
    def assistant(self) -> Assistant:
        return build_assistant(self.settings, self.engine, self.search, self.model)

    @property
    def skills(self) -> SkillDeps:
        return self.assistant.deps.skills

    def bus(self, *, index: bool = True, alerts: bool = True) -> CatalogBus:
        """The catalog bus: re-embedding into the index (opened here) unless `index=False`,
        with the skills when the assistant is built (their statistics and knowledge are
        swapped in live)."""
        search = self.search if index else None
        skills = self.skills if "assistant" in self.__dict__ else None
        return build_bus(
            self.engine,
            search.indexer if search else None,
            search.search if search else None,
            skills,
            alerts=alerts,
        )

    def container(self) -> Container:
        """The server's whole system."""
        assistant = self.assistant
        return Container(
            self.settings,
            self.engine,
            self.search,
            assistant,
            self.model,
            build_rate_limiter(self.settings),
            self.metrics,
            self.bus(),
        )

    def close(self) -> None:
        """For commands; a server's container is closed by the app's lifespan."""
        if "model" in self._built and self.model is not None:
            self.model.http_client.close()
        if "search" in self._built:
            self.search.close()
        if "engine" in self._built:
            self.engine.dispose()


def build_container(settings: Settings, *, embedder: Embedder | None = None) -> Container:
    return System(settings, embedder=embedder, metrics=True).container()
