"""The chat widget driven in headless Chromium (Debian's `chromium`, no browser download).

The app runs in offline mode under uvicorn in a background thread; Playwright opens the demo
page at `/`, which embeds `/widget.js` with a short-lived widget token for the demo buyer (never an
API key). Screenshots of the desktop and
phone layouts go to docs/screenshots/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Dialog, Page, Playwright, Route, expect, sync_playwright
from sqlalchemy import Engine, update
from sqlmodel import Session

from sourcing.app.container import build_container
from sourcing.app.main import create_app
from sourcing.app.settings import Settings
from sourcing.catalog_sync.sync import sync_feed
from sourcing.domain.kinds import SyncMode
from sourcing.domain.repositories.alerts import AlertDraft, AlertRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.tables import WidgetToken
from sourcing.domain.types import utcnow
from sourcing.eval.bench_chat import free_port
from sourcing.retrieval.embedders import Embedder
from tests.app.demo_data import load_demo
from tests.catalog_sync.feedfiles import product, write_jsonl

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
XSS_TITLE = "<img src=x onerror=alert(1)> 义乌 收纳盒 防尘"
ALERT_TITLE = "价格下调：PP 抽屉式收纳盒 ¥6.30 → ¥5.90"
PNG_TILE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="90">'
    b'<rect width="120" height="90" fill="#fde8d8"/><circle cx="60" cy="45" r="22" fill="#ffb08a"/>'
    b"</svg>"
)
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Server:
    url: str
    engine: Engine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, use_embedder: Embedder) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("widget")
    settings = Settings(data_dir=folder, demo=True)
    engine = load_demo(settings, products=120)
    hostile = product(
        "p-990001",
        title=XSS_TITLE,
        supplier_id="s-0001",
        category="日用百货/收纳整理/收纳盒",
        price_tiers=[{"min_quantity": 2, "price": "4.50"}],
    )
    sync_feed(engine, write_jsonl(folder / "hostile.jsonl", [hostile]), mode=SyncMode.DELTA)
    with Session(engine) as session:
        AlertRepository(session).add_many(
            [
                AlertDraft(
                    buyer_id="b-0001",
                    kind="price_down",
                    title=ALERT_TITLE,
                    dedup_key="widget-test-1",
                    action={"type": "open_product", "product_id": "p-000050"},
                    product_id="p-000050",
                )
            ]
        )
        session.commit()
    container = build_container(settings, embedder=use_embedder)  # start-up indexes the catalog
    app = create_app(container=container)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    yield Server(url=f"http://127.0.0.1:{port}", engine=engine)
    uv.should_exit = True
    thread.join(timeout=10)
    container.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the widget's browser tests need Debian's chromium "
            "(apt-get install -y chromium); no Playwright browser download is used"
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    )
    yield browser
    browser.close()


def _page(browser: Browser, width: int = 1280, height: int = 800, locale: str = "zh-CN") -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    # Catalog image hosts are not reachable from the test: serve a placeholder tile.
    context.route(
        "https://img.demo-sourcing.example.com/**",
        lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=PNG_TILE),
    )
    return context.new_page()


def _open(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("sourcing-chat .bubble").click()
    expect(page.locator("sourcing-chat .panel")).to_be_visible()


def _ask(page: Page, message: str) -> None:
    box = page.locator("sourcing-chat textarea")
    box.fill(message)
    box.press("Enter")


def test_chat_streams_text_and_product_cards_and_takes_feedback(
    browser: Browser, server: Server
) -> None:
    page = _page(browser)
    _open(page, server)
    expect(page.locator("sourcing-chat textarea")).to_be_focused()
    _ask(page, "义乌 收纳盒 20元以内")
    log = page.locator("sourcing-chat [role=log]")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(log.locator(".msg.user")).to_have_text("你: 义乌 收纳盒 20元以内")
    expect(log.locator(".msg.bot").last).to_contain_text("为你找到")
    cards = log.locator(".card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 2
    first = cards.first
    expect(first.locator(".pr")).to_contain_text("¥")
    expect(first.locator(".mu").first).to_contain_text("起批")
    expect(first.locator(".tag.k")).to_be_visible()
    # Thumbs up is stored against the assistant message.
    with page.expect_response(lambda r: "/feedback" in r.url and r.status == 201):
        log.locator(".fb .up").last.click()
    expect(log.locator(".fb .up").last).to_have_attribute("aria-pressed", "true")
    log.locator(".car").first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.locator("sourcing-chat .bubble").focus()  # keep the focus ring out of the picture
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))
    # Watch a product: the alert feed follows it from now on.
    with page.expect_response(lambda r: "/v1/watches/" in r.url and r.status in (200, 201)):
        first.locator(".watch").click()
    expect(first.locator(".watch")).to_have_attribute("aria-pressed", "true")
    expect(first.locator(".watch")).to_have_text("已关注")
    # Compare two products.
    cards.nth(0).locator(".pick").click()
    cards.nth(1).locator(".pick").click()
    page.locator("sourcing-chat .cmpbar button", has_text="对比所选 (2)").click()
    expect(log.locator("table th[scope=col]")).to_have_count(3)
    # Esc closes the floating panel and gives the focus back to the bubble.
    page.locator("sourcing-chat textarea").press("Escape")
    expect(page.locator("sourcing-chat .panel")).to_be_hidden()
    expect(page.locator("sourcing-chat .bubble")).to_be_focused()
    page.context.close()


def test_an_expired_token_is_renewed_from_the_token_url_and_the_turn_goes_through(
    browser: Browser, server: Server
) -> None:
    page = _page(browser)
    _open(page, server)
    with Session(server.engine) as session:  # every token so far expires now
        session.execute(update(WidgetToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    with page.expect_response(lambda r: "/demo/widget-token" in r.url and r.status == 200):
        _ask(page, "义乌 收纳盒")
    log = page.locator("sourcing-chat [role=log]")
    expect(log.locator(".card").first).to_be_visible()
    expect(page.locator("sourcing-chat .err")).to_be_hidden()


def test_a_quick_reply_pill_sends_the_option(browser: Browser, server: Server) -> None:
    page = _page(browser)
    _open(page, server)
    _ask(page, "帮我找点好卖的")
    pills = page.locator("sourcing-chat .pills button")
    expect(pills.first).to_be_visible()
    option = pills.first.inner_text()
    group = page.locator("sourcing-chat .pills").element_handle()
    pills.first.click()
    log = page.locator("sourcing-chat [role=log]")
    expect(log.locator(".msg.user").last).to_have_text(f"你: {option}")
    page.wait_for_function("group => !group.isConnected", arg=group)  # the pills are spent
    expect(log.locator(".fb")).to_have_count(2)  # both turns finished
    page.context.close()


def test_a_dropped_stream_shows_an_error_and_retry_recovers(
    browser: Browser, server: Server
) -> None:
    page = _page(browser)
    calls: list[str] = []

    def drop_first(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:  # the stream breaks after the notice, before any answer or done
            route.fulfill(
                status=200,
                content_type="text/event-stream",
                body='event: text\ndata: {"type":"text","delta":"（离线模式）\\n"}\n\n',
            )
        else:
            route.continue_()

    page.route("**/v1/chat", drop_first)
    _open(page, server)
    _ask(page, "义乌 收纳盒 20元以内")
    error = page.locator("sourcing-chat .err")
    expect(error).to_be_visible()
    expect(error).to_contain_text("连接中断")
    retry = error.get_by_role("button", name="重试")
    expect(retry).to_be_visible()
    retry.click()
    expect(page.locator("sourcing-chat .card").first).to_be_visible()
    expect(error).to_be_hidden()
    assert len(calls) == 2
    # A refused connection is a clear error too.
    page.unroute("**/v1/chat")
    page.route("**/v1/chat", lambda route: route.abort("connectionrefused"))
    _ask(page, "保温杯")
    expect(error).to_contain_text("连接中断")
    page.context.close()


def test_a_catalog_title_with_markup_renders_as_text(browser: Browser, server: Server) -> None:
    page = _page(browser)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    _open(page, server)
    _ask(page, "义乌 收纳盒 防尘")
    hostile = page.locator("sourcing-chat .card[data-product-id='p-990001']")
    expect(hostile).to_be_visible()
    expect(hostile.locator(".t")).to_have_text(XSS_TITLE)
    expect(page.locator("sourcing-chat [role=log]")).to_contain_text("<img src=x onerror=alert(1)>")
    assert page.locator("sourcing-chat img[src=x]").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    page.context.close()


def test_the_language_switches_between_chinese_and_english(
    browser: Browser, server: Server
) -> None:
    page = _page(browser, locale="en-US")  # data-lang="zh" on the demo page wins
    _open(page, server)
    textarea = page.locator("sourcing-chat textarea")
    expect(page.locator("sourcing-chat h2")).to_have_text("采购助手")
    page.locator("sourcing-chat button.lang").click()
    expect(page.locator("sourcing-chat h2")).to_have_text("Sourcing assistant")
    expect(page.locator("sourcing-chat .send")).to_have_text("Send")
    assert "What are you sourcing" in (textarea.get_attribute("placeholder") or "")
    expect(page.locator("sourcing-chat .close")).to_have_attribute("aria-label", "Close")
    _ask(page, "storage box under 20 yuan")
    expect(page.locator("sourcing-chat .card").first.locator(".mu").first).to_contain_text("MOQ")
    page.locator("sourcing-chat button.lang").click()
    expect(page.locator("sourcing-chat .send")).to_have_text("发送")
    page.context.close()


def test_alerts_badge_and_panel(browser: Browser, server: Server) -> None:
    page = _page(browser)
    page.goto(server.url + "/")
    badge = page.locator("sourcing-chat .bubble .badge")
    expect(badge).to_have_text("1")
    page.locator("sourcing-chat .bubble").click()
    page.locator("sourcing-chat button.alerts").click()
    item = page.locator("sourcing-chat .al")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(ALERT_TITLE)
    with page.expect_response(lambda r: r.url.endswith("/ack") and r.status == 200):
        item.locator(".ack").click()
    expect(badge).to_be_hidden()
    page.context.close()


def test_history_reopens_a_conversation(browser: Browser, server: Server) -> None:
    page = _page(browser)
    _open(page, server)
    _ask(page, "现在还能仅退款吗？")
    expect(page.locator("sourcing-chat .fb")).to_have_count(1)
    page.locator("sourcing-chat button.new").click()
    expect(page.locator("sourcing-chat .msg.user")).to_have_count(0)
    page.locator("sourcing-chat button.hist").click()
    page.locator("sourcing-chat .row", has_text="现在还能仅退款吗？").first.click()
    expect(page.locator("sourcing-chat .msg.user")).to_have_text("现在还能仅退款吗？")
    expect(page.locator("sourcing-chat .msg.bot").last).to_contain_text("仅退款")
    page.context.close()


def test_a_phone_viewport_of_360_px(browser: Browser, server: Server) -> None:
    page = _page(browser, width=360, height=740)
    _open(page, server)
    box = page.locator("sourcing-chat .panel").bounding_box()
    assert box is not None
    assert (box["x"], box["width"]) == (0, 360)
    _ask(page, "义乌 收纳盒 20元以内")
    cards = page.locator("sourcing-chat .card")
    expect(cards.first).to_be_visible()
    send = page.locator("sourcing-chat .send").bounding_box()
    assert send is not None
    assert send["x"] + send["width"] <= 360
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360
    page.locator("sourcing-chat .car").first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))
    page.context.close()


def _action_alerts(engine: Engine) -> dict[str, dict[str, object]]:
    """One alert per action kind for the demo buyer; run last, after the badge counts one."""
    with Session(engine) as session:
        bought = OrderRepository(session).ordered_lines("b-0001")[-1].product_id
        actions: dict[str, dict[str, object]] = {
            "show_alternatives": {"type": "show_alternatives", "product_id": "p-000050",
                                  "product_ids": ["p-000051", "p-000052"]},
            "draft_reorder": {"type": "draft_reorder", "product_id": bought, "sku_ids": []},
            "open_supplier": {"type": "open_supplier", "supplier_id": "s-0001",
                              "product_ids": ["p-000001"]},
            "open_product": {"type": "open_product", "product_id": "p-000050"},
            "open_opportunities": {"type": "open_opportunities", "category": "日用百货"},
        }  # fmt: skip
        AlertRepository(session).add_many(
            [
                AlertDraft(
                    buyer_id="b-0001",
                    kind="price_down",
                    title=f"动作 {kind}",
                    dedup_key=f"widget-act-{kind}",
                    action=action,
                )
                for kind, action in actions.items()
            ]
        )
        session.commit()
    return actions


def test_every_alert_action_button_acts_and_a_supplier_can_be_followed(
    browser: Browser, server: Server
) -> None:
    actions = _action_alerts(server.engine)
    page = _page(browser)
    _open(page, server)
    log = page.locator("sourcing-chat [role=log]")
    for kind in actions:
        page.locator("sourcing-chat button.alerts").click()
        item = page.locator("sourcing-chat .al").filter(has_text=f"动作 {kind}")
        button = item.locator(f"button.act[data-act={kind}]")
        with page.expect_response(lambda r: r.url.split("?")[0].endswith("/act") and r.ok):
            button.click()
        expect(log.locator(f"[data-action={kind}]")).to_have_count(1)
    answers = {kind: log.locator(f"[data-action={kind}]") for kind in actions}
    expect(answers["show_alternatives"].locator(".card")).to_have_count(2)
    expect(answers["draft_reorder"].locator(".draft")).to_contain_text("补货草稿")
    expect(answers["open_product"].locator(".card")).to_have_count(1)
    expect(answers["open_opportunities"].locator(".opps li").first).to_be_visible()
    supplier = answers["open_supplier"].locator(".sup[data-supplier-id=s-0001]")
    expect(supplier).to_be_visible()
    with page.expect_response(lambda r: "/v1/follows/s-0001" in r.url and r.ok):
        supplier.locator("button.follow").click()
    expect(supplier.locator("button.follow")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(SCREENSHOTS / "alert-actions.png"))
    page.context.close()
