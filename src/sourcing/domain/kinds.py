"""The closed vocabularies of the domain, as string enums stored verbatim in the database."""

from __future__ import annotations

from enum import StrEnum


class SupplierKind(StrEnum):
    FACTORY = "factory"
    TRADER = "trader"
    BRAND_OEM = "brand_oem"


class SupplierStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DELISTED = "delisted"


class SkuStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


class CatalogEventKind(StrEnum):
    PRODUCT_ADDED = "product_added"
    PRODUCT_DELISTED = "product_delisted"
    PRODUCT_RELISTED = "product_relisted"
    PRICE_CHANGED = "price_changed"
    SKU_ADDED = "sku_added"
    SKU_REMOVED = "sku_removed"
    STOCK_OUT = "stock_out"
    BACK_IN_STOCK = "back_in_stock"


class SyncMode(StrEnum):
    SNAPSHOT = "snapshot"
    DELTA = "delta"


class SyncStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class BuyerChannel(StrEnum):
    TAOBAO = "taobao"
    DOUYIN_LIVE = "douyin_live"
    PINDUODUO = "pinduoduo"
    OFFLINE_STORE = "offline_store"
    CROSS_BORDER = "cross_border"


class TrendSource(StrEnum):
    DOWNSTREAM_SEARCH = "downstream_search"
    PURCHASE_INDEX = "purchase_index"


class KnowledgeKind(StrEnum):
    PLATFORM_RULE = "platform_rule"
    SOURCING_GUIDE = "sourcing_guide"


class ApiRole(StrEnum):
    BUYER = "buyer"
    MERCHANT = "merchant"
    ADMIN = "admin"
    EVALUATOR = "evaluator"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    FAILED = "failed"  # the turn broke off: what it showed before is kept, marked as such


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
