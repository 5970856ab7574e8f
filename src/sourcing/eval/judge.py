"""Ground truth from catalog rows: graded relevance by rule, and hard-constraint violations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sourcing.domain.money import PriceTier, unit_price_at
from sourcing.domain.tables import Product, Supplier
from sourcing.eval.queries import EvalQuery, Expectation, RelevanceRule

Listing = tuple[Product, Supplier | None]


def in_leaf(category_path: str, leaves: Iterable[str]) -> bool:
    """A leaf given as a full path matches exactly; a bare name matches the last segment."""
    last = category_path.rsplit("/", 1)[-1]
    return any(category_path == leaf if "/" in leaf else last == leaf for leaf in leaves)


def _contains_any(text: str, words: Iterable[str]) -> bool:
    lowered = text.lower()
    return any(word.lower() in lowered for word in words)


def _attributes_match(attributes: Mapping[str, str], wanted: Mapping[str, Sequence[str]]) -> bool:
    return bool(wanted) and all(
        _contains_any(attributes.get(key, ""), values) for key, values in wanted.items()
    )


def grade(rule: RelevanceRule, product: Product) -> int:
    """0 (not relevant), 1 (relevant) or 2 (exactly what was asked for)."""
    if in_leaf(product.category_path, rule.leaf):
        exact = _contains_any(product.title, rule.grade2_any_title) or _attributes_match(
            product.attributes, rule.grade2_attrs
        )
        return 2 if exact else 1
    related = in_leaf(product.category_path, rule.related_leaf)
    return 1 if related or _contains_any(product.title, rule.related_any_title) else 0


def unit_price(product: Product, quantity: int | None) -> int | None:
    """The unit price in cents at `quantity`, else at the MOQ (the listed price)."""
    if not product.price_tiers:
        return product.price_cents
    tiers = [PriceTier.model_validate(tier) for tier in product.price_tiers]
    return unit_price_at(tiers, quantity if quantity is not None else product.moq)


def _price_ok(expect: Expectation, product: Product) -> bool:
    low, high = expect.price_min_cents, expect.price_max_cents
    if low is None and high is None:
        return True
    price = unit_price(product, expect.quantity)
    if price is None:
        return False
    return (low is None or price >= low) and (high is None or price <= high)


def _regions_of(supplier: Supplier | None) -> set[str]:
    if supplier is None:
        return set()
    return {
        place for place in (supplier.province, supplier.city, supplier.industrial_belt) if place
    }


def _customisable(product: Product, supplier: Supplier | None) -> bool:
    """The product takes custom orders, or its supplier accepts OEM/ODM (docs/feeds.md)."""
    return product.customisable or bool(supplier is not None and supplier.customisable)


def violations(expect: Expectation, product: Product, supplier: Supplier | None) -> list[str]:
    """The names of the stated constraints this listing breaks, checked from the raw rows."""
    broken = []
    if not _price_ok(expect, product):
        broken.append("price")
    if expect.moq_max is not None and product.moq > expect.moq_max:
        broken.append("moq_max")
    if expect.quantity is not None and product.moq > expect.quantity:
        broken.append("quantity")
    if expect.regions and not _regions_of(supplier) & set(expect.regions):
        broken.append("regions")
    if expect.categories and product.category not in expect.categories:
        broken.append("categories")
    if expect.supplier_kinds and (supplier is None or supplier.kind not in expect.supplier_kinds):
        broken.append("supplier_kinds")
    if expect.customisable is not None and _customisable(product, supplier) != expect.customisable:
        broken.append("customisable")
    lead_max = expect.lead_time_max_days
    if lead_max is not None and (
        product.lead_time_days is None or product.lead_time_days > lead_max
    ):
        broken.append("lead_time_max_days")
    if expect.in_stock is not None and ((product.stock or 0) > 0) != expect.in_stock:
        broken.append("in_stock")
    return broken


def judge(query: EvalQuery, listings: Iterable[Listing]) -> dict[str, int]:
    """Product id to grade (> 0 only) over the searchable catalog; a constraint query's
    relevant products must also satisfy every stated constraint."""
    grades: dict[str, int] = {}
    for product, supplier in listings:
        value = grade(query.relevance, product)
        if value and not violations(query.expect, product, supplier):
            grades[product.id] = value
    return grades
