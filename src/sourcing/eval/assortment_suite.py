"""The similar-assortment eval suite: substitutes precision@5 (also cross-lingual) and 平替 checks.

Labels are rules over the demo catalog: a listing is a substitute of a query product when it
comes from another supplier, sits in the same leaf category and keeps every key attribute
(agents/data/assortment.json: 材质, 功效, 适用机型, 防晒指数, 口味, those the product carries).
Query products are those with at least five labelled substitutes, taken evenly by id.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from random import Random

from pydantic import BaseModel, ConfigDict

from sourcing.agents.skills.similar_assortment import (
    AssortmentTuning,
    AssortmentVocabulary,
    SimilarProductsInput,
    comparison_quantity,
    keeps_key_attributes,
    key_attributes,
    load_assortment_vocabulary,
    price_at,
    similar_products,
)
from sourcing.domain.tables import Product, Supplier
from sourcing.eval.machine import describe_machine
from sourcing.eval.metrics import mean
from sourcing.eval.retrieval_suite import DEMO_PRODUCTS, DemoEnvironment, build_demo_environment

K = 5
QUERIES = 60
CROSS_LINGUAL_QUERIES = 30
MIN_LABELS = K
CHEAPER_QUANTITIES = (None, 100, 1000)  # None: at the MOQ
BASELINE_SEED = 5
TOLERANCE = 0.02
Listing = tuple[Product, Supplier | None]
Ranker = Callable[[Product], list[str]]


class AssortmentReport(BaseModel):
    catalog: dict[str, int]
    embedder: str
    machine: str
    seconds: float
    queries: int
    precision_at_5: dict[str, float]  # method -> mean precision@5 over the query products
    cross_lingual_queries: int
    cross_lingual_precision_at_5: float
    cheaper_checks: int  # query × quantity runs of mode="cheaper"
    cheaper_found: int  # runs with at least one 平替
    cheaper_violations: int  # 平替 not strictly cheaper at the quantity, or key attributes lost
    violations: list[str] = []


class AssortmentBaseline(BaseModel):
    model_config = ConfigDict(frozen=True)

    catalog_products: int
    precision_at_5: float
    cross_lingual_precision_at_5: float


def default_baseline_path() -> Path:
    return Path(str(resources.files("sourcing.eval").joinpath("baselines", "assortment.json")))


def load_english() -> dict[str, dict[str, str]]:
    text = resources.files("sourcing.eval").joinpath("datasets/assortment_english.json")
    raw: dict[str, dict[str, str]] = json.loads(text.read_text("utf-8"))
    return {"leaves": raw["leaves"], "values": raw["values"]}


def substitute_labels(
    listings: Sequence[Listing], vocabulary: AssortmentVocabulary
) -> dict[str, set[str]]:
    """For every product: the ids of other suppliers' listings that keep its key attributes."""
    by_leaf: dict[str, list[Product]] = {}
    for product, _ in listings:
        by_leaf.setdefault(product.category_path, []).append(product)
    return {
        product.id: {
            other.id
            for other in by_leaf[product.category_path]
            if other.supplier_id != product.supplier_id
            and keeps_key_attributes(product, other, vocabulary)
        }
        for product, _ in listings
    }


def pick_queries(
    labels: dict[str, set[str]], count: int, min_labels: int = MIN_LABELS
) -> list[str]:
    """`count` products with enough labelled substitutes, evenly spread over the id order."""
    eligible = sorted(pid for pid, found in labels.items() if len(found) >= min_labels)
    if len(eligible) <= count:
        return eligible
    return [eligible[i * len(eligible) // count] for i in range(count)]


def precision_at_k(ranked: Sequence[str], wanted: set[str], k: int = K) -> float:
    return sum(1 for pid in ranked[:k] if pid in wanted) / k


def english_description(
    product: Product, vocabulary: AssortmentVocabulary, english: dict[str, dict[str, str]]
) -> str | None:
    """'<key attribute values> <leaf>' in English, or None where the glossary lacks a word."""
    leaf = english["leaves"].get(product.category_path.rsplit("/", 1)[-1])
    values = [english["values"].get(v) for v in key_attributes(product, vocabulary).values()]
    if leaf is None or any(value is None for value in values):
        return None
    return " ".join([*(value for value in values if value), leaf])


def _baseline_rankers(listings: Sequence[Listing], seed: int) -> dict[str, Ranker]:
    by_leaf: dict[str, list[Product]] = {}
    for product, _ in listings:
        by_leaf.setdefault(product.category_path, []).append(product)

    def others(product: Product) -> list[Product]:
        return [o for o in by_leaf[product.category_path] if o.supplier_id != product.supplier_id]

    def random_other(product: Product) -> list[str]:
        pool = sorted(o.id for o in others(product))
        return Random(f"{seed}:{product.id}").sample(pool, min(K, len(pool)))

    def cheapest(product: Product) -> list[str]:
        priced = [o for o in others(product) if o.price_cents is not None]
        return [o.id for o in sorted(priced, key=lambda o: (o.price_cents or 0, o.id))[:K]]

    return {"same_leaf_random": random_other, "same_leaf_cheapest": cheapest}


def _skill_ranker(env: DemoEnvironment, tuning: AssortmentTuning) -> Ranker:
    def ranked(product: Product) -> list[str]:
        request = SimilarProductsInput(product_id=product.id, limit=K)
        result = similar_products(env.engine, env.search, request, tuning)
        return [a.product.product_id for a in result.alternatives]

    return ranked


def _cross_lingual(
    env: DemoEnvironment,
    catalog: dict[str, Listing],
    labels: dict[str, set[str]],
    vocabulary: AssortmentVocabulary,
    min_labels: int,
) -> list[float]:
    english = load_english()
    cases = [
        (pid, text)
        for pid in pick_queries(labels, len(labels), min_labels)
        if (text := english_description(catalog[pid][0], vocabulary, english))
    ]
    step = max(1, len(cases) // CROSS_LINGUAL_QUERIES)
    scores = []
    for pid, text in cases[::step][:CROSS_LINGUAL_QUERIES]:
        request = SimilarProductsInput(query_text=text, limit=K, language="en")
        result = similar_products(env.engine, env.search, request)
        ranked = [a.product.product_id for a in result.alternatives]
        scores.append(precision_at_k(ranked, labels[pid]))
    return scores


def cheaper_violation(
    original: Product, alternative: Listing, asked: int | None, vocabulary: AssortmentVocabulary
) -> str | None:
    """Why a 平替 is not one, checked from the catalog rows, or None when it is."""
    product = alternative[0]
    quantity = comparison_quantity(asked, original, product)
    mine, theirs = price_at(original, quantity), price_at(product, quantity)
    if mine is None or theirs is None or theirs >= mine:
        return f"{original.id}→{product.id} at {quantity}: {theirs} is not below {mine}"
    if not keeps_key_attributes(original, product, vocabulary):
        return f"{original.id}→{product.id}: key attributes not kept"
    if product.supplier_id == original.supplier_id:
        return f"{original.id}→{product.id}: same supplier"
    return None


def _check_cheaper(
    env: DemoEnvironment,
    catalog: dict[str, Listing],
    queries: Sequence[str],
    vocabulary: AssortmentVocabulary,
) -> tuple[int, int, list[str]]:
    checks, found, violations = 0, 0, []
    for pid in queries:
        for quantity in CHEAPER_QUANTITIES:
            request = SimilarProductsInput(
                product_id=pid, mode="cheaper", quantity=quantity, limit=20
            )
            result = similar_products(env.engine, env.search, request)
            checks += 1
            found += bool(result.alternatives)
            for alternative in result.alternatives:
                listing = catalog[alternative.product.product_id]
                if why := cheaper_violation(catalog[pid][0], listing, quantity, vocabulary):
                    violations.append(why)
    return checks, found, violations


def run_assortment_suite(
    env: DemoEnvironment, queries: int = QUERIES, min_labels: int = MIN_LABELS
) -> AssortmentReport:
    """Precision@5 of the skill and of the simple baselines, cross-lingual cases, 平替 checks;
    `min_labels` below 5 only for small smoke runs, where few products have five."""
    started = time.perf_counter()
    vocabulary = load_assortment_vocabulary()
    listings = env.listings()
    catalog = {product.id: (product, supplier) for product, supplier in listings}
    labels = substitute_labels(listings, vocabulary)
    chosen = pick_queries(labels, queries, min_labels)
    rankers = {
        "similar_products": _skill_ranker(env, AssortmentTuning()),
        "dense_and_trust_only": _skill_ranker(env, AssortmentTuning(attribute_weight=0.0)),
        **_baseline_rankers(listings, BASELINE_SEED),
    }
    precision = {
        name: round(mean(precision_at_k(rank(catalog[pid][0]), labels[pid]) for pid in chosen), 4)
        for name, rank in rankers.items()
    }
    cross = _cross_lingual(env, catalog, labels, vocabulary, min_labels)
    checks, found, violations = _check_cheaper(env, catalog, chosen, vocabulary)
    return AssortmentReport(
        catalog={"products": env.manifest.products, "searchable": len(listings)},
        embedder=env.embedder.name,
        machine=describe_machine(),
        seconds=round(time.perf_counter() - started, 2),
        queries=len(chosen),
        precision_at_5=precision,
        cross_lingual_queries=len(cross),
        cross_lingual_precision_at_5=round(mean(cross), 4),
        cheaper_checks=checks,
        cheaper_found=found,
        cheaper_violations=len(violations),
        violations=violations[:20],
    )


def baseline_of(report: AssortmentReport) -> AssortmentBaseline:
    return AssortmentBaseline(
        catalog_products=report.catalog["products"],
        precision_at_5=report.precision_at_5["similar_products"],
        cross_lingual_precision_at_5=report.cross_lingual_precision_at_5,
    )


def compare_to_baseline(
    report: AssortmentReport, baseline: AssortmentBaseline, tolerance: float = TOLERANCE
) -> list[str]:
    """Any 平替 violation, and (on the baseline's catalog size) a metric drop > tolerance."""
    lines = []
    if report.cheaper_violations:
        lines.append(f"{report.cheaper_violations} 平替 are not cheaper or lost key attributes")
    if report.catalog["products"] != baseline.catalog_products:
        return lines
    found = baseline_of(report)
    for name in ("precision_at_5", "cross_lingual_precision_at_5"):
        now, then = getattr(found, name), getattr(baseline, name)
        if now < then - tolerance:
            lines.append(f"{name} fell to {now:.3f} from a baseline of {then:.3f}")
    return lines


def markdown(report: AssortmentReport) -> str:
    lines = [
        "# Similar assortment eval",
        "",
        f"machine: {report.machine}",
        f"catalog: {report.catalog['products']} products, embedder {report.embedder}, "
        f"{report.seconds} s",
        "",
        f"| method | substitutes precision@5 ({report.queries} products) |",
        "|---|---|",
        *(f"| {name} | {value:.3f} |" for name, value in report.precision_at_5.items()),
        f"| similar_products, English description ({report.cross_lingual_queries}) "
        f"| {report.cross_lingual_precision_at_5:.3f} |",
        "",
        f"平替 (mode=cheaper) at MOQ/100/1000: {report.cheaper_found} of {report.cheaper_checks} "
        f"runs found one; violations {report.cheaper_violations}",
    ]
    return "\n".join(lines) + "\n"


def write_reports(report: AssortmentReport, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "assortment.json", folder / "assortment.md"
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sourcing.eval.assortment_suite", description=__doc__
    )
    parser.add_argument("--products", type=int, default=DEMO_PRODUCTS, help="demo catalog size")
    parser.add_argument("--out", type=Path, default=Path("data/eval"), help="report folder")
    parser.add_argument(
        "--update-baseline", action="store_true", help="write this run as the committed baseline"
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, write reports, compare with the baseline; 1 on a regression."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="assortment-eval-") as tmp:
        env = build_demo_environment(Path(tmp) / "demo", products=args.products)
        try:
            report = run_assortment_suite(env)
        finally:
            env.close()
    json_path, md_path = write_reports(report, args.out)
    print(markdown(report), end="")
    print(f"reports: {json_path} {md_path}")
    path = default_baseline_path()
    if args.update_baseline:
        path.write_text(baseline_of(report).model_dump_json(indent=2) + "\n", encoding="utf-8")
        print(f"baseline written to {path}")
    regressions = compare_to_baseline(
        report, AssortmentBaseline.model_validate_json(path.read_text(encoding="utf-8"))
    )
    for line in regressions:
        print(f"REGRESSION: {line}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
