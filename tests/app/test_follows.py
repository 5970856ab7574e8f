"""Follows (私域看上新): a followed supplier's new product reaches its followers only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from sourcing.agents.alerts import run_alert_jobs
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.db import transaction
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import BuyerChannel, SyncMode
from sourcing.domain.repositories.follows import FollowRepository
from sourcing.domain.tables import Alert, Buyer
from tests.catalog_sync.feedfiles import SUPPLIERS, product, write_jsonl


def test_a_new_product_of_a_followed_supplier_reaches_its_follower_only(
    engine: Engine, tmp_path: Path
) -> None:
    sync_feed(engine, write_jsonl(tmp_path / "suppliers.jsonl", SUPPLIERS), kind="suppliers")
    feed = tmp_path / "s1.jsonl"
    sync_feed(engine, write_jsonl(feed, [product("f1")]), source="s1")  # the import: no news
    with transaction(engine) as session:
        for buyer in ("b-follower", "b-other"):
            session.add(Buyer(id=buyer, name=buyer, channel=BuyerChannel.TAOBAO))
        session.flush()
        follows = FollowRepository(session)
        assert follows.follow("b-follower", "s1")
        assert not follows.follow("b-follower", "s1")  # again: nothing changes
        with pytest.raises(NotFoundError):
            follows.follow("b-follower", "s-nowhere")
    run = sync_feed(engine, write_jsonl(feed, [product("f2")]), source="s1", mode=SyncMode.DELTA)
    run_alert_jobs(engine, None, sync_run_id=run.run_id)
    with Session(engine) as session:
        follows = FollowRepository(session)
        arrivals = [p.id for p, _ in follows.new_arrivals("b-follower", 10)]
        alerts = session.exec(select(Alert.buyer_id, Alert.kind, Alert.product_id)).all()
        assert arrivals == ["f2"]  # f1 came with the catalog's import
        assert follows.new_arrivals("b-other", 10) == []
        assert [supplier.id for _, supplier in follows.followed("b-follower")] == ["s1"]
    assert ("b-follower", "new_arrival", "f2") in alerts
    assert not [alert for alert in alerts if alert[0] == "b-other"]
    with transaction(engine) as session:
        FollowRepository(session).unfollow("b-follower", "s1")
    with Session(engine) as session:
        assert FollowRepository(session).followed("b-follower") == []
