"""`sourcing serve` killed with SIGKILL while chat streams are open, then restarted: every
completed turn is kept, a killed turn leaves at most its user message, the index has no drift."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from sourcing.app.cli import main
from tests.app.served import QUICK_ANSWER, SLOW, Served


def _first_event(lines: Iterator[str]) -> str:
    for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    raise AssertionError("the stream ended before its first event")


def _turn(client: httpx.Client, message: str, conversation_id: str | None = None) -> str:
    body = {"message": message, "stream": False, "conversation_id": conversation_id}
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "".join(QUICK_ANSWER)
    return str(response.json()["conversation_id"])


def _messages(client: httpx.Client, conversation_id: str) -> list[tuple[str, str]]:
    body = client.get(f"/v1/conversations/{conversation_id}").json()
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_a_killed_server_keeps_completed_turns_and_a_clean_index(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    process, client = served.start()
    first = _turn(client, "义乌 收纳盒 20元以内")
    _turn(client, "要500个的话多少钱", first)
    second = _turn(client, "不锈钢保温杯 源头工厂")
    slow = [f"{SLOW} 帮我找义乌的收纳盒 {number}" for number in range(3)]
    # The line iterators are kept: one dropped closes its stream, and the server would see the
    # client leave (a turn stored as failed) before it is killed.
    reading: list[Iterator[str]] = []
    with ExitStack() as streams:
        for message in slow:
            response = streams.enter_context(
                client.stream("POST", "/v1/chat", json={"message": message})
            )
            assert response.status_code == 200
            reading.append(response.iter_lines())
            assert _first_event(reading[-1]) == "text"  # mid-answer, not done
        left = client.stream("POST", "/v1/chat", json={"message": f"{SLOW} 我先走了"})
        with left as response:  # a buyer who leaves mid-answer: the stream closes
            assert _first_event(response.iter_lines()) == "text"
        time.sleep(1)  # the server notices the closed stream and stores the turn
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    client.close()

    database = served.settings.data_dir / "sourcing.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(SystemExit) as checked:
        main(["index", "check"])
    assert checked.value.code in (0, None), capsys.readouterr().out
    assert "no drift" in capsys.readouterr().out

    process, client = served.start()
    try:
        assert _messages(client, first) == [
            ("user", "义乌 收纳盒 20元以内"),
            ("assistant", "".join(QUICK_ANSWER)),
            ("user", "要500个的话多少钱"),
            ("assistant", "".join(QUICK_ANSWER)),
        ]
        assert _messages(client, second) == [
            ("user", "不锈钢保温杯 源头工厂"),
            ("assistant", "".join(QUICK_ANSWER)),
        ]
        listed = client.get("/v1/conversations").json()
        assert len(listed) == 6
        gone = next(c["id"] for c in listed if c["title"].endswith("我先走了"))
        stored = client.get(f"/v1/conversations/{gone}").json()["messages"]
        # What the buyer saw before leaving is kept, marked failed.
        assert [(m["role"], m["status"]) for m in stored] == [
            ("user", "complete"),
            ("assistant", "failed"),
        ]
        assert stored[1]["content"]
        killed = [c["id"] for c in listed if c["id"] not in (first, second, gone)]
        # A killed turn keeps the user message it committed first, and no partial answer.
        assert sorted(_messages(client, cid)[0][1] for cid in killed) == slow
        assert all(len(_messages(client, cid)) == 1 for cid in killed)
        _turn(client, "再来一个", killed[0])  # a killed conversation goes on after a restart
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
