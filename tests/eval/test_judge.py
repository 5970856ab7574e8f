"""Rule-based relevance and the independent constraint check, on hand-built catalog rows."""

from __future__ import annotations

from typing import Any

import pytest

from sourcing.domain.kinds import SupplierKind
from sourcing.domain.tables import Product, Supplier
from sourcing.eval.judge import grade, in_leaf, judge, unit_price, violations
from sourcing.eval.queries import EvalQuery, Expectation, RelevanceRule

CUP = "日用百货/杯壶水具/保温杯"


def _supplier(**changes: Any) -> Supplier:
    values: dict[str, Any] = {
        "id": "s-1",
        "name": "义乌市某某工贸有限公司",
        "kind": SupplierKind.FACTORY,
        "province": "浙江",
        "city": "义乌",
        "industrial_belt": "义乌小商品",
        "customisable": False,
    }
    return Supplier(**(values | changes))


def _product(**changes: Any) -> Product:
    values: dict[str, Any] = {
        "id": "p-1",
        "supplier_id": "s-1",
        "title": "304不锈钢吸管保温杯 大容量",
        "category_path": CUP,
        "category": "日用百货",
        "attributes": {"材质": "304不锈钢", "风格": "简约"},
        "moq": 10,
        "price_cents": 1500,
        "price_tiers": [
            {"min_quantity": 10, "unit_price_cents": 1500},
            {"min_quantity": 100, "unit_price_cents": 1200},
        ],
        "lead_time_days": 3,
        "stock": 500,
        "customisable": False,
    }
    return Product(**(values | changes))


UNPRICED = _product(price_tiers=[], price_cents=None)
NO_LEAD_TIME = _product(lead_time_days=None)


def test_leaves_match_by_last_segment_or_full_path() -> None:
    assert in_leaf(CUP, ["保温杯"])
    assert in_leaf(CUP, [CUP])
    assert not in_leaf(CUP, ["杯"])
    assert not in_leaf(CUP, ["家居家纺/杯壶水具/保温杯"])


def test_grades() -> None:
    rule = RelevanceRule(
        leaf=("保温杯",),
        related_leaf=("玻璃杯",),
        related_any_title=("焖烧杯",),
        grade2_any_title=("吸管",),
    )
    assert grade(rule, _product()) == 2
    assert grade(rule, _product(title="车载保温杯")) == 1
    assert grade(rule, _product(category_path="日用百货/杯壶水具/玻璃杯", title="吸管")) == 1
    assert grade(rule, _product(category_path="x/y/z", title="不锈钢焖烧杯")) == 1
    assert grade(rule, _product(category_path="x/y/z")) == 0


def test_grade2_attributes_must_all_hold() -> None:
    rule = RelevanceRule(leaf=("保温杯",), grade2_attrs={"材质": ("不锈钢",), "风格": ("ins",)})
    assert grade(rule, _product()) == 1
    assert grade(rule, _product(attributes={"材质": "316不锈钢", "风格": "ins风"})) == 2


def test_title_rules_ignore_case() -> None:
    rule = RelevanceRule(leaf=("数据线",), grade2_any_title=("Type-C",))
    cable = _product(category_path="3C数码配件/手机配件/数据线", title="TYPE-C数据线")
    assert grade(rule, cable) == 2


def test_unit_price_is_at_the_quantity_else_at_the_moq() -> None:
    assert unit_price(_product(), None) == 1500
    assert unit_price(_product(), 150) == 1200
    assert unit_price(_product(), 5) is None  # below the MOQ there is no price
    assert unit_price(_product(price_tiers=[], price_cents=990), 50) == 990


@pytest.mark.parametrize(
    ("expect", "product", "supplier", "broken"),
    [
        (Expectation(), _product(), _supplier(), []),
        (Expectation(price_max_cents=1400), _product(), _supplier(), ["price"]),
        (Expectation(price_max_cents=1400, quantity=100), _product(), _supplier(), []),
        (Expectation(price_min_cents=1600), _product(), _supplier(), ["price"]),
        (
            Expectation(price_max_cents=1000),
            _product(price_tiers=[], price_cents=None),
            None,
            ["price"],
        ),
        (Expectation(moq_max=5), _product(), _supplier(), ["moq_max"]),
        (Expectation(quantity=5), _product(), _supplier(), ["quantity"]),
        (Expectation(regions=("义乌小商品",)), _product(), _supplier(), []),
        (Expectation(regions=("浙江",)), _product(), _supplier(), []),
        (Expectation(regions=("深圳", "广东")), _product(), _supplier(), ["regions"]),
        (Expectation(regions=("义乌",)), _product(), None, ["regions"]),
        (Expectation(categories=("小家电",)), _product(), _supplier(), ["categories"]),
        (
            Expectation(supplier_kinds=(SupplierKind.FACTORY, SupplierKind.BRAND_OEM)),
            _product(),
            _supplier(kind=SupplierKind.TRADER),
            ["supplier_kinds"],
        ),
        (Expectation(customisable=True), _product(), _supplier(), ["customisable"]),
        (Expectation(customisable=True), _product(customisable=True), _supplier(), []),
        (Expectation(customisable=True), _product(), _supplier(customisable=True), []),
        (Expectation(lead_time_max_days=2), _product(), _supplier(), ["lead_time_max_days"]),
        (
            Expectation(lead_time_max_days=2),
            _product(lead_time_days=None),
            None,
            ["lead_time_max_days"],
        ),
        (Expectation(in_stock=True), _product(stock=0), _supplier(), ["in_stock"]),
        (
            Expectation(price_max_cents=100, moq_max=1, in_stock=True),
            _product(stock=None),
            _supplier(),
            ["price", "moq_max", "in_stock"],
        ),
    ],
)
def test_violations(
    expect: Expectation, product: Product, supplier: Supplier | None, broken: list[str]
) -> None:
    assert violations(expect, product, supplier) == broken


def test_constraint_query_relevance_requires_the_constraints() -> None:
    query = EvalQuery(
        id="c",
        text="义乌 保温杯 14元以内",
        type="constraint",
        relevance=RelevanceRule(leaf=("保温杯",)),
        expect=Expectation(regions=("义乌",), price_max_cents=1400),
    )
    cheap = _product(id="p-2", price_cents=1300, price_tiers=[])
    listings = [(_product(), _supplier()), (cheap, _supplier()), (cheap, None)]
    assert judge(query, listings) == {"p-2": 1}
