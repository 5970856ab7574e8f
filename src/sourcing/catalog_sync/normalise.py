"""Row validation and normalisation: a raw feed row becomes a typed record or a list of issues."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sourcing.domain.errors import BadInputError
from sourcing.domain.kinds import ProductStatus, SupplierKind, SupplierStatus
from sourcing.domain.money import PriceTier, parse_price_cents, unit_price_at, validate_tiers
from sourcing.domain.records import ProductRecord, SkuRecord, SupplierRecord

MAX_ID = 64
# Real feeds run past Amazon's 200 characters (abt_buy 202, amazon_google 207); 1688 and
# Taobao stop at 60 and 30 Chinese characters. A row over this is refused, not cut.
MAX_TITLE = 500
MAX_DESCRIPTION = 5000
_CATEGORY_SEPARATORS = re.compile(r"\s*(?:/|>|›|»|\|)\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_TRUE = {"true", "1", "yes", "y", "是", "可", "支持", "t"}
_FALSE = {"false", "0", "no", "n", "否", "不", "不支持", "f", ""}
_SUPPLIER_KINDS = {
    "factory": SupplierKind.FACTORY,
    "工厂": SupplierKind.FACTORY,
    "生产厂家": SupplierKind.FACTORY,
    "源头工厂": SupplierKind.FACTORY,
    "trader": SupplierKind.TRADER,
    "贸易商": SupplierKind.TRADER,
    "经销商": SupplierKind.TRADER,
    "brand_oem": SupplierKind.BRAND_OEM,
    "品牌代工厂": SupplierKind.BRAND_OEM,
    "代工厂": SupplierKind.BRAND_OEM,
}


@dataclass(frozen=True)
class RowIssue:
    field: str
    reason: str


class RowError(Exception):
    def __init__(self, issues: list[RowIssue]) -> None:
        super().__init__("; ".join(f"{issue.field}: {issue.reason}" for issue in issues))
        self.issues = issues


def clean_text(value: Any) -> str:
    """NFKC folds full-width ASCII to half-width; control characters go, runs of space fold."""
    text = value if isinstance(value, str) else str(value)
    # The checks skip the costly steps for the common already-clean cell (a million per feed).
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if not text.isprintable() or "  " in text:
        text = _SPACES.sub(" ", _CONTROL.sub("", text))
    return text.strip()


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_id(value: Any) -> str:
    text = clean_text(value)
    if not text:
        raise BadInputError("is required")
    if len(text) > MAX_ID or " " in text:
        raise BadInputError(f"must be at most {MAX_ID} characters without spaces")
    return text


def _bounded_text(limit: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = clean_text(value)
        if len(text) > limit:
            raise BadInputError(f"is {len(text)} characters; at most {limit}")
        return text

    return parse


def _parse_int(value: Any, *, minimum: int = 0, suffixes: str = "") -> int:
    if isinstance(value, bool):
        raise BadInputError(f"{value!r} is not a whole number")
    text = clean_text(value).replace(",", "").rstrip(suffixes).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadInputError(f"{value!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise BadInputError(f"{value!r} is not a whole number")
    if number < minimum:
        raise BadInputError(f"{value!r} is below {minimum}")
    return int(number)


def _parse_score(value: Any) -> int:
    score = _parse_int(value)
    if score > 100:
        raise BadInputError(f"{value!r} is above 100")
    return score


def _parse_rate(value: Any) -> float:
    text = clean_text(value)
    percent = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise BadInputError(f"{value!r} is not a number or percentage") from None
    if percent:
        number /= 100
    if not number.is_finite() or not 0 <= number <= 1:
        raise BadInputError(f"{value!r} is outside 0–1 (or 0–100%)")
    return float(number)


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = clean_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadInputError(f"{value!r} is not a yes/no value")


def _loads_if_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"is not valid JSON: {exc.msg}") from None
    return value


def _parse_pairs(value: Any, what: str) -> list[tuple[str, str]]:
    """`a:b;c:d` (full-width separators already folded by NFKC) into pairs."""
    pairs = []
    for part in clean_text(value).split(";"):
        if not part.strip():
            continue
        key, sep, val = part.partition(":")
        if not sep or not key.strip():
            raise BadInputError(f"{part!r} is not a {what}")
        pairs.append((key.strip(), val.strip()))
    return pairs


def _parse_attributes(value: Any) -> dict[str, str]:
    value = _loads_if_text(value)
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items() if clean_text(k)}
    return dict(_parse_pairs(value, "key:value pair"))


def _parse_category(value: Any) -> str:
    parts = [part for part in _CATEGORY_SEPARATORS.split(clean_text(value)) if part]
    return "/".join(parts)


def _parse_image_url(value: Any) -> str:
    text = clean_text(value)
    if text and not re.match(r"^https?://[^\s]+$", text):
        raise BadInputError(f"{text!r} is not an http(s) URL")
    return text


def _parse_price_tiers(value: Any) -> tuple[PriceTier, ...]:
    value = _loads_if_text(value)
    tiers = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict) or "min_quantity" not in item or "price" not in item:
                raise BadInputError('each tier needs "min_quantity" and "price"')
            quantity = _parse_int(item["min_quantity"], minimum=1)
            tiers.append(PriceTier(min_quantity=quantity, unit_price_cents=_money(item["price"])))
    else:
        for quantity_text, price_text in _parse_pairs(value, "quantity:price tier"):
            # "100-499:11" and "≥100:11" both start the tier at 100.
            quantity_text = quantity_text.split("-")[0].lstrip("≥>=")
            tiers.append(
                PriceTier(
                    min_quantity=_parse_int(quantity_text, minimum=1),
                    unit_price_cents=_money(price_text),
                )
            )
    return tuple(validate_tiers(tiers))


def _money(value: Any) -> int:
    if isinstance(value, float):
        # JSON numbers arrive as floats; their shortest repr is what the writer meant.
        value = repr(value)
    return parse_price_cents(value)


def _parse_skus(value: Any) -> tuple[SkuRecord, ...]:
    value = _loads_if_text(value)
    if not isinstance(value, list):
        raise BadInputError("must be a JSON list of SKU objects")
    skus: dict[str, SkuRecord] = {}
    for item in value:
        if not isinstance(item, dict):
            raise BadInputError("each SKU must be an object")
        sku_id = _parse_id(item.get("id"))
        if sku_id in skus:
            raise BadInputError(f"SKU id {sku_id!r} appears twice")
        spec = item.get("spec") or {}
        if not isinstance(spec, dict):
            raise BadInputError(f"SKU {sku_id!r} spec must be an object")
        price = item.get("price")
        stock = item.get("stock")
        skus[sku_id] = SkuRecord(
            id=sku_id,
            spec={clean_text(k): clean_text(v) for k, v in spec.items()},
            price_cents=None if _is_blank(price) else _money(price),
            stock=None if _is_blank(stock) else _parse_int(stock),
        )
    return tuple(skus.values())


def _parse_enum(choices: dict[str, Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        key = clean_text(value).lower()
        if key not in choices:
            raise BadInputError(f"{value!r} is not one of {', '.join(sorted(set(choices)))}")
        return choices[key]

    return parse


def _parse_list(value: Any) -> tuple[str, ...]:
    value = _loads_if_text(value)
    items = value if isinstance(value, list) else clean_text(value).split(";")
    return tuple(text for text in (clean_text(item) for item in items) if text)


_PRODUCT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "supplier_id": _parse_id,
    "category": _parse_category,
    "attributes": _parse_attributes,
    "description": _bounded_text(MAX_DESCRIPTION),
    "image_url": _parse_image_url,
    "unit": _bounded_text(8),
    "moq": lambda v: _parse_int(v, minimum=1, suffixes="件个双套箱只条包"),
    "price": _money,
    "price_tiers": _parse_price_tiers,
    "lead_time_days": lambda v: _parse_int(v, suffixes="天日"),
    "stock": _parse_int,
    "sales_30d": _parse_int,
    "repurchase_rate": _parse_rate,
    "customisable": _parse_bool,
    "status": _parse_enum({s.value: s for s in ProductStatus}),
    "skus": _parse_skus,
}

_SUPPLIER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "kind": _parse_enum(_SUPPLIER_KINDS),
    "province": _bounded_text(32),
    "city": _bounded_text(32),
    "industrial_belt": _bounded_text(32),
    "integrity_score": _parse_score,
    "fulfilment_48h_rate": _parse_rate,
    "quality_refund_rate": _parse_rate,
    "response_rate": _parse_rate,
    "years_on_platform": _parse_int,
    "badges": _parse_list,
    "customisable": _parse_bool,
    "status": _parse_enum({s.value: s for s in SupplierStatus}),
}


def _parse_fields(
    data: dict[str, Any], parsers: dict[str, Callable[[Any], Any]], issues: list[RowIssue]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, parse in parsers.items():
        raw = data.get(name)
        if _is_blank(raw):
            continue
        try:
            values[name] = parse(raw)
        except BadInputError as exc:
            issues.append(RowIssue(name, exc.message))
        except ValueError as exc:  # pydantic bounds on tiers and SKUs
            issues.append(RowIssue(name, str(exc).splitlines()[0]))
    return values


def _required(
    data: dict[str, Any], name: str, parse: Callable[[Any], str], issues: list[RowIssue]
) -> str:
    try:
        value = parse(data.get(name, ""))
    except BadInputError as exc:
        issues.append(RowIssue(name, exc.message))
        return ""
    if not value:
        issues.append(RowIssue(name, "is required"))
    return value


PRODUCT_COLUMNS = frozenset({"id", "title", *_PRODUCT_FIELDS})
SUPPLIER_COLUMNS = frozenset({"id", "name", *_SUPPLIER_FIELDS})


def normalise_product(data: dict[str, Any]) -> ProductRecord:
    """A product record from a raw row; raises RowError listing every problem found."""
    issues: list[RowIssue] = []
    product_id = _required(data, "id", _parse_id, issues)
    title = _required(data, "title", _bounded_text(MAX_TITLE), issues)
    values = _parse_fields(data, _PRODUCT_FIELDS, issues)
    if not issues:
        _reconcile_price_and_stock(values, issues)
    if issues:
        raise RowError(issues)
    values["category_path"] = values.pop("category", "")
    values["price_cents"] = values.pop("price", None)
    return ProductRecord(id=product_id, title=title, **values)


def _reconcile_price_and_stock(values: dict[str, Any], issues: list[RowIssue]) -> None:
    """Make MOQ, headline price and tiers agree, and stock agree with the SKUs'."""
    tiers: tuple[PriceTier, ...] = values.get("price_tiers", ())
    price = values.get("price")
    if tiers:
        moq = values.setdefault("moq", tiers[0].min_quantity)
        at_moq = unit_price_at(tiers, moq)
        if at_moq is None:
            issues.append(RowIssue("moq", f"MOQ {moq} is below the first price tier"))
        elif price is not None and price != at_moq:
            issues.append(
                RowIssue("price", f"{price / 100:.2f} disagrees with the tier price at the MOQ")
            )
        else:
            values["price"] = at_moq
    elif price is not None:
        values["price_tiers"] = (
            PriceTier(min_quantity=values.get("moq", 1), unit_price_cents=price),
        )
    sku_stocks = [sku.stock for sku in values.get("skus", ()) if sku.stock is not None]
    if sku_stocks:
        total = sum(sku_stocks)
        if values.get("stock", total) != total:
            issues.append(RowIssue("stock", f"{values['stock']} is not the SKUs' total {total}"))
        values["stock"] = total


def normalise_supplier(data: dict[str, Any]) -> SupplierRecord:
    """A supplier record from a raw row; raises RowError listing every problem found."""
    issues: list[RowIssue] = []
    supplier_id = _required(data, "id", _parse_id, issues)
    name = _required(data, "name", _bounded_text(MAX_TITLE), issues)
    values = _parse_fields(data, _SUPPLIER_FIELDS, issues)
    if issues:
        raise RowError(issues)
    return SupplierRecord(id=supplier_id, name=name, **values)
