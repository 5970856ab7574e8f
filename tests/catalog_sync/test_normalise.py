"""Row normalisation: text folding, money, tiers, categories, attributes, SKUs."""

from __future__ import annotations

from typing import Any

import pytest

from sourcing.catalog_sync.normalise import RowError, normalise_product, normalise_supplier
from sourcing.domain.kinds import SupplierKind
from sourcing.domain.money import PriceTier


def _issues(row: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RowError) as caught:
        normalise_product(row)
    return {issue.field: issue.reason for issue in caught.value.issues}


def test_full_width_text_is_folded_and_whitespace_trimmed() -> None:
    record = normalise_product({"id": " Ａ１２３ ", "title": "  ＵＳＢ  小风扇\t静音 "})
    assert (record.id, record.title) == ("A123", "USB 小风扇 静音")


def test_a_long_real_title_is_kept_whole_and_an_endless_one_refused() -> None:
    title = "Apple MacBook Pro MD101LL/A 13.3-Inch Laptop " * 5  # 225 characters
    assert normalise_product({"id": "p", "title": title}).title == title.strip()
    assert "title" in _issues({"id": "p", "title": "x" * 501})


@pytest.mark.parametrize(
    ("text", "separator_free"),
    [
        ("服装服饰/女装/连衣裙", "服装服饰/女装/连衣裙"),
        ("服装服饰 > 女装 > 连衣裙", "服装服饰/女装/连衣裙"),
        ("服装服饰›女装|连衣裙", "服装服饰/女装/连衣裙"),
    ],
)
def test_category_paths_accept_common_separators(text: str, separator_free: str) -> None:
    record = normalise_product({"id": "p", "title": "t", "category": text})
    assert record.category_path == separator_free
    assert record.category == "服装服饰"


def test_attributes_from_pairs_or_json() -> None:
    from_pairs = normalise_product({"id": "p", "title": "t", "attributes": "材质：纯棉；风格:韩版"})
    from_json = normalise_product(
        {"id": "p", "title": "t", "attributes": '{"材质": "纯棉", "风格": "韩版"}'}
    )
    assert from_pairs.attributes == from_json.attributes == {"材质": "纯棉", "风格": "韩版"}


def test_tiers_set_moq_and_headline_price() -> None:
    record = normalise_product(
        {"id": "p", "title": "t", "price_tiers": "100-499:11;2-99:12.5;≥500:9.8"}
    )
    assert record.moq == 2
    assert record.price_cents == 1250
    assert record.price_tiers == (
        PriceTier(min_quantity=2, unit_price_cents=1250),
        PriceTier(min_quantity=100, unit_price_cents=1100),
        PriceTier(min_quantity=500, unit_price_cents=980),
    )


def test_a_single_price_becomes_one_tier_at_the_moq() -> None:
    record = normalise_product({"id": "p", "title": "t", "price": "8.8元", "moq": "50件"})
    assert record.price_tiers == (PriceTier(min_quantity=50, unit_price_cents=880),)


def test_json_float_prices_keep_their_written_value() -> None:
    record = normalise_product({"id": "p", "title": "t", "price": 0.1 + 0.2 - 0.00000000000000004})
    assert record.price_cents == 30


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({"price_tiers": "2:10;100:12"}, "price_tiers", "costs more per unit"),
        ({"price_tiers": "2:10;2:9"}, "price_tiers", "two price tiers start at quantity 2"),
        ({"price": "12", "price_tiers": "2:10"}, "price", "disagrees with the tier price"),
        ({"moq": "1", "price_tiers": "2:10"}, "moq", "below the first price tier"),
        ({"price": "-1"}, "price", "negative"),
        ({"price": "2000000"}, "price", "above the"),
        ({"image_url": "javascript:alert(1)"}, "image_url", "not an http(s) URL"),
        ({"customisable": "maybe"}, "customisable", "not a yes/no value"),
        ({"status": "gone"}, "status", "is not one of active, delisted"),
        ({"skus": '[{"id": "a"}, {"id": "a"}]'}, "skus", "appears twice"),
        ({"skus": "[{"}, "skus", "not valid JSON"),
        ({"stock": "5", "skus": '[{"id": "a", "stock": 3}]'}, "stock", "not the SKUs' total 3"),
        ({"lead_time_days": "3.5"}, "lead_time_days", "not a whole number"),
        ({"id": "has space"}, "id", "without spaces"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(
    row: dict[str, Any], field: str, reason: str
) -> None:
    issues = _issues({"id": "p", "title": "t"} | row)
    assert reason in issues[field]


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    assert set(_issues({"id": "", "title": "", "price": "x", "moq": "0"})) == {
        "id",
        "title",
        "price",
        "moq",
    }


def test_stock_is_the_sum_of_sku_stock() -> None:
    record = normalise_product(
        {"id": "p", "title": "t", "skus": [{"id": "a", "stock": 3}, {"id": "b", "stock": "4"}]}
    )
    assert record.stock == 7


def test_the_content_hash_ignores_formatting_but_not_values() -> None:
    base = normalise_product({"id": "p", "title": "水杯", "price": "12.5"})
    same = normalise_product({"id": "p", "title": " 水杯 ", "price": "¥12.50"})
    cheaper = normalise_product({"id": "p", "title": "水杯", "price": "12.4"})
    assert base.content_hash() == same.content_hash() != cheaper.content_hash()


def test_supplier_kinds_and_rates_in_chinese_and_percent() -> None:
    record = normalise_supplier(
        {
            "id": "s1",
            "name": "永康五金厂",
            "kind": "品牌代工厂",
            "quality_refund_rate": "12%",
            "fulfilment_48h_rate": "0.97",
            "badges": "专精特新;品牌代工厂",
            "customisable": "是",
        }
    )
    assert record.kind == SupplierKind.BRAND_OEM
    assert record.quality_refund_rate == pytest.approx(0.12)
    assert record.badges == ("专精特新", "品牌代工厂")
    assert record.customisable is True


def test_supplier_scores_are_bounded() -> None:
    with pytest.raises(RowError, match="integrity_score"):
        normalise_supplier({"id": "s1", "name": "x", "integrity_score": "101"})
