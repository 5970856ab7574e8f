"""What goes into the index for a product: the texts to embed and the payload filters use."""

from __future__ import annotations

from typing import Any

from sourcing.domain.kinds import ProductStatus, SupplierStatus
from sourcing.domain.tables import Product, Supplier
from sourcing.retrieval.lexical import WeightedText

# Names what dense_text and sparse_text put into vectors; bump it when they change, so that
# an index built the old way asks for `sourcing index rebuild`.
DOCUMENT_FORMAT = "dense:title+category;sparse:title+category+attributes+places+description/3"

# A title word weighted 2× lifted abt_buy's lexical nDCG@10 (0.910 → 0.920) but cut the demo
# suite's Chinese product-type recall@50 (0.914 → 0.892): one weight for every field, and the
# reranker weighs title against listing coverage per query (retrieval/rerank.py).
TITLE_WEIGHT = 1.0
DESCRIPTION_CHARS = 500  # a description's first sentences name the model; the rest is noise


def listing_version(product: Product, supplier: Supplier | None) -> str:
    """Changes whenever anything indexed about the product or its supplier changes."""
    return f"{product.content_hash}:{supplier.content_hash if supplier else ''}"


def is_searchable(product: Product, supplier: Supplier | None) -> bool:
    if product.status != ProductStatus.ACTIVE:
        return False
    return supplier is None or supplier.status == SupplierStatus.ACTIVE


def _regions(supplier: Supplier | None) -> list[str]:
    if supplier is None:
        return []
    places = (supplier.province, supplier.city, supplier.industrial_belt)
    return list(dict.fromkeys(place for place in places if place))


def dense_text(product: Product, supplier: Supplier | None) -> str:
    """Title and category only: adding attributes and region (as DESIGN.md §5 had it) cut
    hybrid nDCG@10 from 0.753 to 0.729 on the eval suite and slowed embedding by a third;
    they live in the sparse vector and the payload filters instead."""
    return f"{product.title} {product.category_path.replace('/', ' ')}"


def sparse_fields(product: Product, supplier: Supplier | None) -> list[WeightedText]:
    """Everything a buyer may type: the title above the category, every attribute value,
    the supplier's places and the start of the description."""
    category = product.category_path.replace("/", " ")
    details = " ".join([category, *product.attributes.values(), *_regions(supplier)])
    return [
        WeightedText(product.title, TITLE_WEIGHT),
        WeightedText(details, 1.0),
        WeightedText(product.description[:DESCRIPTION_CHARS], 1.0),
    ]


def detail_text(product: Product) -> str:
    """What the reranker reads beside the title: attribute values and the description's start."""
    return " ".join([*product.attributes.values(), product.description[:DESCRIPTION_CHARS]])


def payload(product: Product, supplier: Supplier | None) -> dict[str, Any]:
    tiers = product.price_tiers
    values: dict[str, Any] = {
        "version": listing_version(product, supplier),
        "category": product.category,
        "regions": _regions(supplier),
        "moq": product.moq,
        "customisable": int(product.customisable or bool(supplier and supplier.customisable)),
        "in_stock": int((product.stock or 0) > 0),
    }
    if supplier is not None:
        values["supplier_id"] = supplier.id
        values["supplier_kind"] = str(supplier.kind)
    if product.price_cents is not None:
        values["price_cents"] = float(product.price_cents)
        values["min_price_cents"] = float(
            min((tier["unit_price_cents"] for tier in tiers), default=product.price_cents)
        )
    if product.lead_time_days is not None:
        values["lead_time_days"] = product.lead_time_days
    return values
