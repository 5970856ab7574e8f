"""The model's tools derive from the skill registry; the service-set fields stay the service's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from sourcing.agents.router import IntentRouter
from sourcing.agents.skills.deps import SkillDeps
from sourcing.agents.skills.fields import service_fields
from sourcing.agents.skills.registry import SKILLS
from sourcing.agents.tools import VIEWS, SkillTools
from sourcing.catalog_sync.reference import load_reference
from sourcing.prompts.loader import PromptLibrary
from sourcing.retrieval.embedders import Embedder
from sourcing.retrieval.knowledge import KnowledgeIndex
from tests.retrieval.demo_search import Demo


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[SkillTools]:
    demo = Demo(tmp_path_factory.mktemp("tools"), use_embedder, products=200)
    load_reference(demo.engine, demo.feeds)  # buyers, for the buyer skills
    deps = SkillDeps(
        engine=demo.engine,
        search=demo.search,
        knowledge=KnowledgeIndex.from_docs([], use_embedder),
        prompts=PromptLibrary(),
        router=IntentRouter(use_embedder),
    )
    yield SkillTools(deps, "en")
    demo.close()


def _parameters(tools: SkillTools, name: str) -> dict[str, Any]:
    return convert_to_openai_tool(tools.tools[name])["function"]["parameters"]


def test_every_skill_has_a_tool_and_a_view(tools: SkillTools) -> None:
    assert set(tools.tools) == set(SKILLS) == set(VIEWS)
    for name in SKILLS:
        assert tools.tools[name].description.strip(), name


def test_a_tool_schema_is_the_skill_input_without_the_fields_the_service_sets(
    tools: SkillTools,
) -> None:
    for name, skill in SKILLS.items():
        properties = _parameters(tools, name)["properties"]
        model_set = set(skill.input.model_fields) - service_fields(skill.input)
        assert set(properties) == model_set, name
        assert not set(properties) & {"buyer_id", "language", "today"}, name
    # Bounds and descriptions come from the input model, not from a restatement.
    replenish = _parameters(tools, "plan_replenishment")["properties"]
    assert replenish["service_level"]["minimum"] == 0.5
    assert replenish["budget"]["description"] == "yuan, for this reorder"
    assert "supplier_id" not in _parameters(tools, "merchant_view")["properties"]
    assert "buyer_id" not in _parameters(tools, "watch_sources")["properties"]


def test_what_a_model_sends_for_a_service_field_is_dropped(tools: SkillTools) -> None:
    sent = {"buyer_id": "b-9999", "language": "zh", "review_days": 7}
    message = tools.run("c1", "plan_replenishment", sent, buyer_id="b-0001")
    body = json.loads(str(message.content))
    assert message.status == "success", body
    assert body["buyer_id"] == "b-0001"


def test_a_buyer_skill_without_a_buyer_key_is_refused_for_the_model(tools: SkillTools) -> None:
    message = tools.run("c2", "plan_replenishment", {}, buyer_id=None)
    assert message.status == "error"
    assert json.loads(str(message.content))["error"] == "forbidden"
    merchant = tools.run("c3", "merchant_view", {}, buyer_id="b-0001", supplier_id=None)
    assert json.loads(str(merchant.content))["error"] == "forbidden"


def test_bad_arguments_go_back_to_the_model_as_a_reason(tools: SkillTools) -> None:
    message = tools.run("c4", "plan_replenishment", {"service_level": 2}, buyer_id="b-0001")
    body = json.loads(str(message.content))
    assert body["error"] == "invalid_arguments"
    assert "service_level" in body["message"]
    unknown = tools.run("c5", "order_everything", {}, buyer_id="b-0001")
    assert json.loads(str(unknown.content))["error"] == "unknown_tool"
