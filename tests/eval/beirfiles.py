"""A tiny BEIR folder (5 documents, 3 queries, and their catalog.csv feed) for tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

DOCS = [
    (
        "d1",
        "Stainless steel thermos",
        "A vacuum insulated bottle keeps drinks hot for twelve hours.",
    ),
    ("d2", "Yoga mat", "Non-slip TPE exercise mat for home workouts and pilates."),
    ("d3", "Bluetooth earbuds", "Wireless earphones with noise cancelling and a charging case."),
    ("d4", "Cast iron skillet", "Heavy frying pan for searing steak on any stove."),
    ("d5", "Cotton socks", "Breathable crew socks, a pack of five pairs."),
]
QUERIES = [
    ("q1", "insulated thermos bottle"),
    ("q2", "wireless earphones"),
    ("q3", "non-slip yoga mat"),
]
QRELS = [("q1", "d1", 2), ("q2", "d3", 1), ("q3", "d2", 1), ("q3", "d5", 0)]


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = [{"_id": i, "title": t, "text": x, "metadata": {}} for i, t, x in DOCS]
    queries = [{"_id": i, "text": t} for i, t in QUERIES]
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        lines = "".join(json.dumps(row) + "\n" for row in rows)
        (folder / name).write_text(lines, encoding="utf-8")
    tsv = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    (folder / "qrels" / "test.tsv").write_text(tsv, encoding="utf-8")
    with (folder / "catalog.csv").open("w", encoding="utf-8", newline="") as feed:
        writer = csv.writer(feed)
        writer.writerow(["id", "title", "description"])
        writer.writerows(DOCS)
    return folder
