"""The relational schema as sqlmodel tables; Alembic migrations under migrations/ mirror it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from sourcing.domain.kinds import (
    AlertSeverity,
    ApiRole,
    BuyerChannel,
    JobStatus,
    KnowledgeKind,
    MessageRole,
    MessageStatus,
    ProductStatus,
    SkuStatus,
    SupplierKind,
    SupplierStatus,
    SyncMode,
    SyncStatus,
    TrendSource,
)
from sourcing.domain.types import EnumText, JsonColumn, UTCDateTime, utcnow


def _json_list() -> Any:
    return Field(default_factory=list, sa_type=JsonColumn)


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_type=JsonColumn)


def _enum(enum: type[StrEnum], default: StrEnum | None = None, index: bool = False) -> Any:
    column: Column[Any] = Column(EnumText(enum), nullable=False, index=index)
    return Field(sa_column=column) if default is None else Field(default=default, sa_column=column)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


class Supplier(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    kind: SupplierKind = _enum(SupplierKind, index=True)
    province: str = ""
    city: str = ""
    industrial_belt: str = Field(default="", index=True)  # 产业带, e.g. 义乌小商品
    integrity_score: int = 0  # 诚信分 0–100
    fulfilment_48h_rate: float = 0.0  # share of orders shipped within 48 h, 0–1
    quality_refund_rate: float = 0.0  # share of orders refunded for quality, 0–1
    response_rate: float = 0.0  # share of enquiries answered, 0–1
    years_on_platform: int = 0
    badges: list[str] = _json_list()  # 专精特新, 品牌代工厂, 一手货源
    customisable: bool = False  # accepts OEM/ODM
    status: SupplierStatus = _enum(SupplierStatus, default=SupplierStatus.ACTIVE)
    content_hash: str = Field(default="", max_length=64)
    feed_source: str = Field(default="", index=True)
    first_seen_at: datetime = _created()
    updated_at: datetime = _created()


class Product(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    supplier_id: str | None = Field(default=None, foreign_key="supplier.id", index=True)
    title: str
    category_path: str = ""  # "服装服饰/女装/连衣裙"
    category: str = Field(default="", index=True)  # first level of the path
    attributes: dict[str, str] = _json_dict()
    description: str = ""
    image_url: str = ""
    unit: str = "件"
    moq: int = 1  # 起批量, in `unit`s
    price_cents: int | None = None  # unit price at the MOQ; None means 面议 (negotiable)
    price_tiers: list[dict[str, int]] = _json_list()  # [{min_quantity, unit_price_cents}]
    lead_time_days: int | None = None  # days from order to dispatch
    stock: int | None = None
    sales_30d: int = 0
    repurchase_rate: float = 0.0  # 回头率, 0–1
    customisable: bool = False
    status: ProductStatus = _enum(ProductStatus, default=ProductStatus.ACTIVE, index=True)
    content_hash: str = Field(default="", max_length=64)
    feed_source: str = Field(default="", index=True)
    first_seen_at: datetime = _created()
    updated_at: datetime = _created()


class Sku(SQLModel, table=True):
    product_id: str = Field(foreign_key="product.id", primary_key=True)
    id: str = Field(primary_key=True, max_length=64)  # unique within its product
    spec: dict[str, str] = _json_dict()  # {"颜色": "黑色", "尺码": "M"}
    price_cents: int | None = None
    stock: int | None = None
    status: SkuStatus = _enum(SkuStatus, default=SkuStatus.ACTIVE)


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    feed_source: str = Field(index=True)
    feed_path: str = ""
    feed_kind: str = "products"
    mode: SyncMode = _enum(SyncMode)
    status: SyncStatus = _enum(SyncStatus, default=SyncStatus.RUNNING)
    started_at: datetime = _created()
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    counts: dict[str, int] = _json_dict()
    error: str = ""


class Job(SQLModel, table=True):
    """Work the server (or a worker) runs and a restart finishes: a claimed job whose lease
    ran out is claimed again, and its work is safe to redo (a feed sync is idempotent)."""

    __table_args__ = (UniqueConstraint("dedup_key", name="uq_job_dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    status: JobStatus = _enum(JobStatus, default=JobStatus.QUEUED, index=True)
    payload: dict[str, Any] = _json_dict()
    submitted_by: str = Field(default="", max_length=128)
    # One job per key ("alerts:2026-12-05"): replicas scheduling the same run queue it once.
    dedup_key: str | None = Field(default=None, max_length=128)
    attempts: int = 0
    progress: int = 0  # rows read so far
    report: dict[str, Any] = _json_dict()
    error: str = ""
    created_at: datetime = _created()
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReorderDraft(SQLModel, table=True):
    """A reorder the buyer has not placed yet: from an alert's one-click action, for the
    inquiry flow to send on. `lines` hold SKU, quantity and the tier's unit price."""

    __tablename__ = "reorder_draft"

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: str = Field(foreign_key="buyer.id", index=True)
    product_id: str = Field(foreign_key="product.id")
    supplier_id: str = Field(foreign_key="supplier.id")
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    total_cents: int = 0
    status: str = Field(default="draft", max_length=16)
    created_at: datetime = _created()


class FeedColumnMap(SQLModel, table=True):
    """A source's own header read as a schema column (货号 → id), saved for its next feeds."""

    __tablename__ = "feed_column_map"

    feed_source: str = Field(primary_key=True, max_length=128)
    feed_kind: str = Field(primary_key=True, max_length=16)
    header: str = Field(primary_key=True, max_length=64)
    column: str = Field(max_length=32)


class CatalogEvent(SQLModel, table=True):
    __tablename__ = "catalog_event"

    id: int | None = Field(default=None, primary_key=True)
    sync_run_id: int = Field(foreign_key="sync_run.id", index=True)
    kind: str = Field(index=True)
    product_id: str = Field(index=True, max_length=64)
    sku_id: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Buyer(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    channel: BuyerChannel = _enum(BuyerChannel)
    region: str = ""
    preferred_categories: list[str] = _json_list()
    price_min_cents: int | None = None
    price_max_cents: int | None = None
    created_at: datetime = _created()


class PurchaseOrder(SQLModel, table=True):
    __tablename__ = "purchase_order"

    id: str = Field(primary_key=True, max_length=64)
    buyer_id: str = Field(foreign_key="buyer.id", index=True)
    supplier_id: str | None = Field(default=None, foreign_key="supplier.id", index=True)
    ordered_at: datetime = Field(sa_type=UTCDateTime, index=True)
    total_cents: int = 0


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="purchase_order.id", index=True)
    product_id: str = Field(foreign_key="product.id", index=True)
    sku_id: str | None = Field(default=None, index=True)
    quantity: int
    unit_price_cents: int


class Follow(SQLModel, table=True):
    buyer_id: str = Field(foreign_key="buyer.id", primary_key=True)
    supplier_id: str = Field(foreign_key="supplier.id", primary_key=True)
    created_at: datetime = _created()


class Watch(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("buyer_id", "product_id", "sku_id"),)

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: str = Field(foreign_key="buyer.id", index=True)
    product_id: str = Field(foreign_key="product.id", index=True)
    sku_id: str | None = None
    created_at: datetime = _created()


class Alert(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("buyer_id", "dedup_key"),)

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: str = Field(foreign_key="buyer.id", index=True)
    kind: str
    severity: AlertSeverity = _enum(AlertSeverity, default=AlertSeverity.INFO)
    title: str = ""
    payload: dict[str, Any] = _json_dict()
    action: dict[str, Any] = _json_dict()  # {"type": "open_product" | "show_alternatives" | …}
    product_id: str | None = Field(default=None, index=True, max_length=64)
    supplier_id: str | None = Field(default=None, index=True, max_length=64)
    source_event_id: int | None = None  # the catalog event that raised it, when one did
    dedup_key: str
    created_at: datetime = _created()
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SupplierSnapshot(SQLModel, table=True):
    """A supplier's trust signals on one day, so alert jobs can see them drop or rise."""

    __tablename__ = "supplier_snapshot"

    supplier_id: str = Field(foreign_key="supplier.id", primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    integrity_score: int
    quality_refund_rate: float
    in_stock_products: int
    active_products: int


class TrendSignal(SQLModel, table=True):
    __tablename__ = "trend_signal"
    __table_args__ = (UniqueConstraint("keyword", "source", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    keyword: str = Field(index=True)
    category: str = Field(default="", index=True)
    source: TrendSource = _enum(TrendSource)
    day: date = Field(index=True)
    value: float


class Festival(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("name", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    day: date = Field(index=True)
    related_categories: list[str] = _json_list()
    lead_days: int = 30  # how early buyers should stock up


class KnowledgeDoc(SQLModel, table=True):
    __tablename__ = "knowledge_doc"

    id: str = Field(primary_key=True, max_length=64)
    kind: KnowledgeKind = _enum(KnowledgeKind)
    title: str
    body: str
    language: str = "zh"
    tags: list[str] = _json_list()
    effective_from: date | None = None
    updated_at: datetime = _created()


class Conversation(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    owner: str = Field(index=True)  # the API key's subject, e.g. "buyer:b-0001"
    title: str = ""
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Message(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    role: MessageRole = _enum(MessageRole)
    content: str
    cards: list[dict[str, Any]] = _json_list()
    token_count: int = 0
    status: MessageStatus = _enum(MessageStatus, default=MessageStatus.COMPLETE)
    created_at: datetime = _created()


class Feedback(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(foreign_key="message.id", index=True)
    rating: int  # +1 helpful, -1 not
    comment: str = ""
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)  # sha256 of the secret, never the secret
    prefix: str = Field(max_length=16)  # shown in listings to tell keys apart
    role: ApiRole = _enum(ApiRole)
    subject: str = ""  # buyer or supplier id the key is bound to
    created_at: datetime = _created()
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WidgetToken(SQLModel, table=True):
    """A short-lived sign-in for the web widget: one buyer, one web origin, until it expires."""

    __tablename__ = "widget_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)  # sha256 of the token, never the token
    buyer_id: str = Field(foreign_key="buyer.id", max_length=64, index=True)
    origin: str = Field(max_length=255)  # scheme://host[:port] of the page that embeds it
    issued_by_key_id: int | None = None  # the API key that minted it; none for the demo page
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CoPurchasePair(SQLModel, table=True):
    """An association rule a → b from order baskets, at product or leaf-category level."""

    __tablename__ = "co_purchase_pair"

    level: str = Field(primary_key=True, max_length=16)  # "product" or "category"
    item_a: str = Field(primary_key=True)
    item_b: str = Field(primary_key=True)
    count: int  # baskets holding both
    support: float  # count / all baskets
    confidence: float  # count / baskets holding item_a
    lift: float  # confidence / support of item_b


class CoPurchaseItem(SQLModel, table=True):
    """How many baskets hold an item, and how many baskets there were (item "" of each level)."""

    __tablename__ = "co_purchase_item"

    level: str = Field(primary_key=True, max_length=16)
    item: str = Field(primary_key=True)
    count: int


# Complements look products up by leaf category; declared here to keep the model and 0002 equal.
Index("ix_product_category_path", SQLModel.metadata.tables["product"].c.category_path)
