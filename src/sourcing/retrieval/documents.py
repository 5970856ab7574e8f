"""What goes into the index for a product: the texts to embed and the payload filters use."""

from __future__ import annotations

from typing import Any

from sourcing.domain.kinds import ProductStatus, SupplierStatus
from sourcing.domain.tables import Product, Supplier

# Attributes that say what a product is; provenance attributes (产地, 货源类别) are left out.
_DESCRIPTIVE_ATTRIBUTES = ("材质", "风格", "适用场景", "功能", "规格", "容量", "适用人群", "款式")


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
    """Title, category, key attributes and supplier region, as DESIGN.md §5 says."""
    attributes = [
        value for key in _DESCRIPTIVE_ATTRIBUTES if (value := product.attributes.get(key))
    ]
    parts = [product.title, product.category_path.replace("/", " "), *attributes]
    if supplier is not None and supplier.industrial_belt:
        parts.append(supplier.industrial_belt)
    return " ".join(parts)


def sparse_text(product: Product, supplier: Supplier | None) -> str:
    """Everything a buyer may type: also every attribute value and the supplier's places."""
    category = product.category_path.replace("/", " ")
    return " ".join([product.title, category, *product.attributes.values(), *_regions(supplier)])


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
