"""The guide skill cites the knowledge base (the after-sales rule above all); supplier profiles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from sourcing.agents.skills.guide import GuideInput, guide
from sourcing.agents.skills.supplier_profile import (
    SupplierProfileInput,
    supplier_profile,
    trust_signals,
)
from sourcing.catalog_sync.reference import load_reference
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import SupplierKind
from sourcing.domain.tables import KnowledgeDoc, Supplier
from sourcing.prompts.loader import PromptLibrary
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.knowledge import KnowledgeIndex
from tests.retrieval.demo_search import Demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("skills"), use_embedder, products=300)
    load_reference(demo.engine, demo.feeds)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def knowledge(demo: Demo, use_embedder: Embedder) -> KnowledgeIndex:
    with Session(demo.engine) as session:
        docs = session.exec(select(KnowledgeDoc)).all()
    return KnowledgeIndex.from_docs(docs, use_embedder)


@pytest.fixture(scope="module")
def prompts() -> PromptLibrary:
    return PromptLibrary()


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("可以仅退款吗？货不想退", "zh"),
        ("质量有问题，平台怎么赔付？要退货吗", "zh"),
        ("Can I get a refund without returning the goods?", "en"),
    ],
)
def test_the_after_sales_rule_is_cited_first(
    knowledge: KnowledgeIndex, prompts: PromptLibrary, question: str, language: str
) -> None:
    result = guide(knowledge, prompts, GuideInput(question=question, language=language))  # type: ignore[arg-type]
    first = result.citations[0]
    assert first.doc_id.startswith("kb-after-sales-no-refund-only")
    assert first.doc_id.endswith(language)
    assert first.title in result.answer


def test_the_rule_text_says_platform_pays_and_no_return(
    knowledge: KnowledgeIndex, prompts: PromptLibrary
) -> None:
    result = guide(knowledge, prompts, GuideInput(question="品质纠纷平台赔付 仅退款"))
    body = " ".join(citation.excerpt for citation in result.citations)
    assert "仅退款" in body
    assert "平台" in body


@pytest.mark.parametrize(
    ("question", "doc"),
    [
        ("怎么判断是不是源头工厂", "kb-source-factory-vs-trader-zh"),
        ("双11要提前多久备货", "kb-seasonal-stocking-zh"),
    ],
)
def test_sourcing_guides_are_found(
    knowledge: KnowledgeIndex, prompts: PromptLibrary, question: str, doc: str
) -> None:
    assert guide(knowledge, prompts, GuideInput(question=question)).citations[0].doc_id == doc


def test_a_risky_supplier_profile_warns(demo: Demo, prompts: PromptLibrary) -> None:
    with Session(demo.engine) as session:
        risky = session.exec(
            select(Supplier).where(col(Supplier.quality_refund_rate) > 0.08)
        ).first()
    assert risky is not None, "the demo should have a supplier with high quality refunds"
    profile = supplier_profile(demo.engine, prompts, SupplierProfileInput(supplier_id=risky.id))
    assert "high_quality_refunds" in profile.warnings
    assert "品质退款率偏高" in profile.text
    assert risky.name in profile.text
    assert profile.quality < 0.9
    refunds = next(signal for signal in profile.signals if signal.name == "quality_refund_rate")
    assert refunds.level == "poor"
    assert "拿样" in refunds.meaning
    assert refunds.value in refunds.meaning


def test_trust_signals_are_explained_in_plain_words() -> None:
    good = Supplier(
        id="s-good",
        name="好工厂",
        kind=SupplierKind.FACTORY,
        integrity_score=92,
        fulfilment_48h_rate=0.97,
        quality_refund_rate=0.012,
        response_rate=0.95,
        years_on_platform=9,
    )
    signals = {signal.name: signal for signal in trust_signals(good, "en")}
    assert signals["kind"].meaning.startswith("factory: makes what it sells")
    assert {signals[n].level for n in signals if n != "kind"} == {"good"}
    assert signals["fulfilment_48h_rate"].value == "97%"
    assert signals["quality_refund_rate"].value == "1.2%"
    slow = good.model_copy(update={"fulfilment_48h_rate": 0.6, "years_on_platform": 1})
    slow_signals = {signal.name: signal for signal in trust_signals(slow, "zh")}
    assert slow_signals["fulfilment_48h_rate"].level == "poor"
    assert (
        slow_signals["fulfilment_48h_rate"].meaning == "48小时发货率 60%：经常延迟发货，急单不建议"
    )
    assert slow_signals["years_on_platform"].level == "poor"


def test_a_profile_in_english_summarises_the_catalog(demo: Demo, prompts: PromptLibrary) -> None:
    _, supplier = demo.product("p-000001")
    profile = supplier_profile(
        demo.engine, prompts, SupplierProfileInput(supplier_id=supplier.id, language="en")
    )
    assert profile.summary.active_products >= 1
    assert sum(profile.summary.categories.values()) == profile.summary.active_products
    assert f"{profile.summary.active_products} products listed" in profile.text
    assert 0 <= profile.quality <= 1


def test_an_unknown_supplier_is_not_found(demo: Demo, prompts: PromptLibrary) -> None:
    with pytest.raises(NotFoundError):
        supplier_profile(demo.engine, prompts, SupplierProfileInput(supplier_id="s-nope"))
