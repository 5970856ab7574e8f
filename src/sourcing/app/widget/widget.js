/*! Sourcing Assistant chat widget — one file, no framework, no build step.
 *
 * Embed:  <script src="https://HOST/widget.js" data-token="wt-…" data-token-url="/my/widget-token"
 *                 data-lang="zh|en" data-theme="light|dark" data-container="#panel"
 *                 data-api-base="https://HOST"></script>
 * data-token is a short-lived widget token the host site's server minted for its signed-in buyer
 * (POST /v1/widget/tokens); when it expires the widget POSTs to data-token-url (the host page's
 * own origin, its cookies) for a fresh one: {"token": "wt-…"}. Never put an API key in a page.
 * Without data-container a floating bubble opens the panel; with it the panel sits inline there.
 * Or place <sourcing-chat token="…" token-url="…" lang="en" inline></sourcing-chat> yourself.
 *
 * Theming (set on `sourcing-chat` in the host page; they pierce the shadow root):
 *   --sourcing-accent (#ff5000)   buttons, links, the user's bubbles
 *   --sourcing-accent-fg (#fff)   text on the accent
 *   --sourcing-bg / --sourcing-fg  panel background and text
 *   --sourcing-muted              secondary text        --sourcing-line   borders
 *   --sourcing-soft               assistant bubbles, cards
 *   --sourcing-radius (12px)      --sourcing-font       --sourcing-z (2147483000)
 *   --sourcing-width (400px)      --sourcing-height (620px)
 *
 * Safety: every string from the model, the catalog or the API reaches the DOM as text nodes
 * (textContent / append of strings); no HTML string is ever parsed.
 */
(() => {
  "use strict";
  const script = document.currentScript;

  const I18N = {
    zh: {
      title: "采购助手", open: "打开采购助手", close: "关闭", send: "发送", placeholder: "想找什么货？例如：义乌 收纳盒 20元以内",
      lang: "EN", langLabel: "Switch to English", history: "历史会话", newChat: "新会话", alerts: "提醒",
      back: "返回对话", empty: "你好！告诉我想找的货、数量和价位，我帮你找源头好货。",
      thinking: "正在思考…", select_products: "正在搜索货源…", supplier_profile: "正在查看供应商资质…",
      guide: "正在查询平台规则…", build_bundle: "正在组货…", similar_products: "正在找相似货源…",
      similar_suppliers: "正在找相似供应商…", shelf_fillers: "正在分析你的货架…", complete_basket: "正在补全采购单…",
      tool: "正在调用工具…", moq: (n, u) => `${n}${u || "件"}起批`, lead: (d) => `${d}天发货`,
      factory: "源头工厂", trader: "贸易商", brand_oem: "品牌代工厂", integrity: (s) => `诚信分${s}`,
      similar: "相似货源", ask: "问问", watch: "关注", watching: "已关注", askAbout: (t, id) => `介绍一下这款：${t}（${id}）`, compare: "对比",
      compareN: (n) => `对比所选 (${n})`, compareMax: "最多对比 4 款", prev: "上一个", next: "下一个",
      price: "单价", stock: "库存", leadTime: "发货", supplier: "供应商", region: "地区", f48: "48h发货率",
      refund: "品质退款率", tiers: "阶梯价", at: (q) => `按 ${q} 件`, good: "有帮助", bad: "没帮助",
      thanks: "感谢反馈", dropped: "连接中断，回答没有完成。", retry: "重试", failed: "请求失败",
      noKey: "缺少登录凭证（data-token）", badKey: "登录已失效，请刷新页面", noHistory: "还没有会话",
      noAlerts: "暂无提醒", markRead: "标为已读", unread: (n) => `${n} 条未读提醒`, similarTo: (t) => `与「${t}」相似的货源`,
      noSimilar: "没有找到相似货源", cheaper: (p) => `便宜 ${p}`, dearer: (p) => `贵 ${p}`, view: "查看",
      clear: "清除选择", sourcing: "采购助手", you: "你", products: "商品", cards: "商品卡片",
      follow: "关注店铺", following: "已关注店铺",
      act: { show_alternatives: "看替代货源", draft_reorder: "生成补货单", open_supplier: "看店铺上新", open_product: "看商品", open_opportunities: "看商机" },
      drafted: (n, total) => `已生成补货草稿：${n} 个规格，合计 ${total}`, opportunities: "现在值得备的货",
    },
    en: {
      title: "Sourcing assistant", open: "Open the sourcing assistant", close: "Close", send: "Send",
      placeholder: "What are you sourcing? e.g. storage box under ¥20", lang: "中文", langLabel: "切换到中文",
      history: "Conversations", newChat: "New chat", alerts: "Alerts", back: "Back to chat",
      empty: "Hi! Tell me what you need, the quantity and your price, and I will find factory-direct goods.",
      thinking: "Thinking…", select_products: "Searching suppliers…", supplier_profile: "Checking the supplier…",
      guide: "Looking up platform rules…", build_bundle: "Building a bundle…", similar_products: "Finding similar items…",
      similar_suppliers: "Finding similar suppliers…", shelf_fillers: "Reading your shelf…", complete_basket: "Completing the basket…",
      tool: "Working…", moq: (n, u) => `MOQ ${n}${u ? " " + u : ""}`, lead: (d) => `ships in ${d} d`,
      factory: "Factory", trader: "Trader", brand_oem: "Brand OEM", integrity: (s) => `Integrity ${s}`,
      similar: "Similar", ask: "Ask", watch: "Watch", watching: "Watching", askAbout: (t, id) => `Tell me about ${t} (${id})`, compare: "Compare",
      compareN: (n) => `Compare selected (${n})`, compareMax: "Compare up to 4", prev: "Previous", next: "Next",
      price: "Unit price", stock: "Stock", leadTime: "Ships", supplier: "Supplier", region: "Region", f48: "48h dispatch",
      refund: "Quality refunds", tiers: "Price tiers", at: (q) => `at ${q} pcs`, good: "Helpful", bad: "Not helpful",
      thanks: "Thanks for the feedback", dropped: "The connection dropped before the answer finished.", retry: "Retry",
      failed: "Request failed", noKey: "Missing sign-in (data-token)", badKey: "The sign-in expired or is invalid; reload the page",
      noHistory: "No conversations yet", noAlerts: "No alerts", markRead: "Mark read", unread: (n) => `${n} unread alerts`,
      similarTo: (t) => `Similar to “${t}”`, noSimilar: "No similar items found", cheaper: (p) => `${p} cheaper`,
      dearer: (p) => `${p} dearer`, view: "View", clear: "Clear", sourcing: "Assistant", you: "You", products: "Products", cards: "Product cards",
      follow: "Follow", following: "Following",
      act: { show_alternatives: "See alternatives", draft_reorder: "Draft the reorder", open_supplier: "See new arrivals", open_product: "See the product", open_opportunities: "See opportunities" },
      drafted: (n, total) => `Reorder draft ready: ${n} line(s), ${total} in all`, opportunities: "Worth stocking now",
    },
  };

  const CSS = `

:host{all:initial;display:block;--a:var(--sourcing-accent,#ff5000);--af:var(--sourcing-accent-fg,#fff);--bg:var(--sourcing-bg,#fff);--fg:var(--sourcing-fg,#1f2329);
--mu:var(--sourcing-muted,#646a73);--ln:var(--sourcing-line,#e5e6eb);--so:var(--sourcing-soft,#f5f6f7);--r:var(--sourcing-radius,12px);
font:14px/1.5 var(--sourcing-font,system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif);color:var(--fg)}
:host([theme=dark]){--bg:var(--sourcing-bg,#1f2329);--fg:var(--sourcing-fg,#f2f3f5);--mu:var(--sourcing-muted,#a6abb3);--ln:var(--sourcing-line,#3a3f47);--so:var(--sourcing-soft,#2b3038)}
*{box-sizing:border-box;font:inherit;color:inherit}
button{cursor:pointer;border:1px solid var(--ln);background:var(--bg);border-radius:999px;padding:4px 10px}
button:hover{border-color:var(--a)}
:focus-visible{outline:3px solid var(--a);outline-offset:2px}
.bubble{position:fixed;right:20px;bottom:20px;z-index:var(--sourcing-z,2147483000);width:56px;height:56px;border:0;padding:0;background:var(--a);color:var(--af);display:flex;align-items:center;justify-content:center;box-shadow:0 4px 16px #0004}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#e02020;color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}
.panel{display:flex;flex-direction:column;background:var(--bg);color:var(--fg);font:14px/1.5 var(--sourcing-font,system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif);border:1px solid var(--ln);border-radius:var(--r);overflow:hidden}
.float{position:fixed;right:20px;bottom:88px;z-index:var(--sourcing-z,2147483000);width:var(--sourcing-width,400px);height:min(var(--sourcing-height,620px),calc(100vh - 110px));box-shadow:0 8px 32px #0003}
.inline{width:100%;height:var(--sourcing-height,620px)}
[hidden]{display:none!important}
.i{width:18px;height:18px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;vertical-align:middle}
.flip{transform:rotate(180deg)}.bubble .i{width:28px;height:28px}
header{display:flex;align-items:center;gap:6px;padding:10px 12px;background:var(--a);color:var(--af)}
header h2{flex:1;margin:0;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
header button{background:transparent;border-color:#fff8;color:var(--af);position:relative;padding:3px 8px;font-size:13px}
header .badge{top:-8px;right:-8px}
.view{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px}
.msg{max-width:92%;padding:8px 12px;border-radius:var(--r);background:var(--so);overflow-wrap:anywhere}
.msg.user{align-self:flex-end;background:var(--a);color:var(--af);white-space:pre-wrap}
.msg.bot{align-self:flex-start;max-width:100%}
.msg p{margin:0 0 6px}.msg p:last-child{margin:0}.msg ul,.msg ol{margin:4px 0;padding-left:20px}
.msg code{background:#0001;border-radius:4px;padding:0 3px;font-family:ui-monospace,monospace}
.status{color:var(--mu);font-size:13px;padding:0 12px 4px;min-height:0}
.status:not(:empty)::before{content:"";display:inline-block;width:8px;height:8px;margin-right:6px;border-radius:50%;background:var(--a);animation:p 1s infinite alternate}
@keyframes p{to{opacity:.2}}
.err{margin:0 12px 8px;padding:8px 10px;border-radius:8px;background:#fdecea;color:#a8071a;display:flex;gap:8px;align-items:center}
.err span{flex:1}.err button{color:#a8071a;border-color:#a8071a}
form{display:flex;gap:8px;padding:10px 12px;border-top:1px solid var(--ln)}
textarea{flex:1;resize:none;height:40px;max-height:120px;padding:8px 10px;border:1px solid var(--ln);border-radius:8px;background:var(--bg)}
.send{background:var(--a);color:var(--af);border:0;padding:0 16px;border-radius:8px}
.send:disabled{opacity:.5;cursor:default}
.pills{display:flex;flex-wrap:wrap;gap:6px}
.pills button{border-color:var(--a);color:var(--a)}
.car{position:relative}
.track{display:flex;gap:10px;overflow-x:auto;scroll-snap-type:x mandatory;padding:2px 2px 6px;list-style:none;margin:0}
.card{flex:0 0 200px;scroll-snap-align:start;border:1px solid var(--ln);border-radius:var(--r);background:var(--bg);padding:8px;display:flex;flex-direction:column;gap:4px;font-size:13px}
.img{width:100%;aspect-ratio:4/3;object-fit:cover;border-radius:8px;background:var(--so);display:flex;align-items:center;justify-content:center;color:var(--mu);font-size:28px}
.t{font-weight:600;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;overflow-wrap:anywhere}
.pr{color:var(--a);font-size:18px;font-weight:700}.pr small{font-size:12px;color:var(--mu);font-weight:400}
.mu{color:var(--mu);font-size:12px}
.tags{display:flex;flex-wrap:wrap;gap:4px}
.tag{font-size:11px;border-radius:4px;padding:0 5px;background:var(--so);color:var(--mu)}
.tag.k{background:#fff1e8;color:#d4380d}.tag.good{background:#e8f7ee;color:#1a7f37}.tag.fair{background:#fff7e0;color:#8a5a00}.tag.poor{background:#fdecea;color:#a8071a}
.tiers{display:flex;flex-wrap:wrap;gap:4px;font-size:11px}.tiers span{border:1px solid var(--ln);border-radius:4px;padding:0 4px}
.tiers .on{border-color:var(--a);color:var(--a)}
.acts{display:flex;flex-wrap:wrap;gap:4px;margin-top:auto}.acts button{font-size:12px;padding:2px 8px}
.acts button[aria-pressed=true]{background:var(--a);color:var(--af);border-color:var(--a)}
.nav{position:absolute;top:64px;width:28px;height:28px;padding:0;background:var(--bg);box-shadow:0 1px 4px #0003}
.nav.l{left:-6px}.nav.r{right:-6px}
.sup{border:1px solid var(--ln);border-radius:var(--r);padding:10px;display:flex;flex-direction:column;gap:6px}
.sup ul{margin:0;padding-left:18px}
table{border-collapse:collapse;font-size:12px;width:100%}
.cmp{overflow-x:auto}th,td{border:1px solid var(--ln);padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere;min-width:80px}
.fb{display:flex;gap:6px;align-items:center}.fb button{padding:2px 8px}
.fb button[aria-pressed=true]{background:var(--a);color:var(--af)}
.row{display:block;width:100%;text-align:left;border-radius:8px;padding:8px 10px}
.al{border:1px solid var(--ln);border-radius:8px;padding:8px 10px;display:flex;flex-direction:column;gap:4px}
.al.unread{border-left:4px solid var(--a)}.al .acts{margin:0}
.sev-critical{color:#a8071a}.sev-warning{color:#8a5a00}
.cmpbar{display:flex;justify-content:flex-end;gap:6px;padding:0 12px 6px}
.cmpbar button{background:var(--a);color:var(--af);border-color:var(--a)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:480px){.float{inset:0;width:100%;height:100%;border-radius:0;border:0}.card{flex-basis:170px}.bubble{right:12px;bottom:12px}textarea{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;scroll-behavior:auto!important}}`;

  const h = (tag, props, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(9)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
    return el;
  };
  // Icons as SVG paths (24x24, stroked), so no emoji font is needed.
  const ICONS = {
    chat: "M4 5h16v11H9l-5 4z",
    bell: "M6 17V11a6 6 0 0 1 12 0v6l2 2H4zM10 21h4",
    clock: "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 3",
    plus: "M12 5v14M5 12h14",
    close: "M6 6l12 12M18 6L6 18",
    up: "M7 11v9H4v-9zM7 11l4-8c2 0 3 1 2.5 3L13 9h6l-2 11H7",
  };
  const icon = (name, flip) => {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    const path = document.createElementNS(NS, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "i" + (flip ? " flip" : ""));
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  };
  // Cards shown in the product carousel (the `card` field of each card the service sends).
  const PRODUCT_CARDS = new Set(["product", "basket_suggestion", "reorder"]);
  const yuan = (c) => (c == null ? "—" : "¥" + (c / 100).toFixed(2));
  const pct = (x) => (x == null ? "—" : (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%");
  const safeUrl = (u) => (typeof u === "string" && /^https?:\/\//i.test(u) ? u : null);

  // Markdown subset: paragraphs, line breaks, **bold**, `code`, "- " and "1. " lists. DOM nodes only.
  const inline = (text) => {
    const out = [];
    const re = /(\*\*([^*]+)\*\*|`([^`]+)`)/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(m[2] != null ? h("strong", null, m[2]) : h("code", null, m[3]));
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  };
  const markdown = (src) => {
    const frag = document.createDocumentFragment();
    for (const block of src.replace(/\r/g, "").split(/\n{2,}/)) {
      const lines = block.split("\n").filter((l) => l.trim());
      if (!lines.length) continue;
      const ul = lines.every((l) => /^\s*[-*•] /.test(l));
      const ol = lines.every((l) => /^\s*\d+[.)] /.test(l));
      if (ul || ol) {
        frag.append(h(ol ? "ol" : "ul", { start: ol ? String(parseInt(lines[0], 10)) : null }, lines.map((l) => h("li", null, inline(l.replace(/^\s*([-*•]|\d+[.)]) /, ""))))));
      } else {
        const p = h("p");
        lines.forEach((l, i) => { if (i) p.append(h("br")); p.append(...inline(l)); });
        frag.append(p);
      }
    }
    return frag;
  };

  // A small SSE reader over fetch: yields {event, data, id} for each block.
  async function* sse(response) {
    const reader = response.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { event: "message", data: "", id: null };
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line[0] === ":") continue;
          const c = line.indexOf(":");
          const f = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (f === "event") ev.event = v;
          else if (f === "data") data.push(v);
          else if (f === "id") ev.id = v;
        }
        if (data.length) { ev.data = data.join("\n"); yield ev; }
      }
    }
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  class SourcingChat extends HTMLElement {
    static get observedAttributes() { return ["lang"]; }

    connectedCallback() {
      if (this.root) return;
      this.key = this.getAttribute("token") || this.getAttribute("api-key") || "";
      this.tokenUrl = this.getAttribute("token-url") || "";
      this.base = (this.getAttribute("api-base") || "").replace(/\/$/, "");
      this.inline = this.hasAttribute("inline");
      const l = this.getAttribute("lang") || navigator.language || "zh";
      this.lang = /^zh/i.test(l) ? "zh" : "en";
      this.cid = null; this.cards = new Map(); this.picked = new Set(); this.alerts = []; this.unread = 0;
      this.root = this.attachShadow({ mode: "open" });
      this.build();
      if (this.key || this.tokenUrl) { this.loadAlerts(); this.watchAlerts(); }
    }

    disconnectedCallback() { this.alertAbort?.abort(); this.chatAbort?.abort(); }

    attributeChangedCallback(name, _old, value) {
      if (name === "lang" && this.root && value) this.setLang(/^zh/i.test(value) ? "zh" : "en");
    }

    get t() { return I18N[this.lang]; }

    build() {
      const t = this.t;
      const root = this.root;
      root.append(h("style", null, CSS));
      this.log = h("div", { class: "view", role: "log", "aria-live": "polite", "aria-relevant": "additions text", tabindex: "0" });
      this.side = h("div", { class: "view", hidden: true, tabindex: "-1" });
      this.status = h("div", { class: "status", role: "status" });
      this.errText = h("span");
      this.retryBtn = h("button", { type: "button", onclick: () => this.retry() });
      this.err = h("div", { class: "err", role: "alert", hidden: true }, this.errText, this.retryBtn);
      this.input = h("textarea", { rows: 1, maxlength: "4000", onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.submit(); }
      } });
      this.sendBtn = h("button", { class: "send", type: "submit" });
      this.cmpBtn = h("button", { type: "button", onclick: () => this.compare() });
      this.cmpClear = h("button", { type: "button", onclick: () => { this.picked.clear(); this.syncPicks(); } });
      this.cmpBar = h("div", { class: "cmpbar", hidden: true }, this.cmpClear, this.cmpBtn);
      this.titleEl = h("h2", { id: "sc-title" });
      this.langBtn = h("button", { type: "button", class: "lang", onclick: () => this.setLang(this.lang === "zh" ? "en" : "zh") });
      this.histBtn = h("button", { type: "button", class: "hist", onclick: () => this.showHistory() }, icon("clock"));
      this.newBtn = h("button", { type: "button", class: "new", onclick: () => this.newChat() }, icon("plus"));
      this.alertBadge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
      this.alertBtn = h("button", { type: "button", class: "alerts", onclick: () => this.showAlerts() }, icon("bell"), this.alertBadge);
      this.closeBtn = h("button", { type: "button", class: "close", hidden: this.inline, onclick: () => this.toggle(false) }, icon("close"));
      this.panel = h("section", { class: "panel " + (this.inline ? "inline" : "float"), role: this.inline ? "region" : "dialog",
        "aria-labelledby": "sc-title", hidden: !this.inline, onkeydown: (e) => { if (e.key === "Escape" && !this.inline) this.toggle(false); } },
        h("header", null, this.titleEl, this.langBtn, this.alertBtn, this.histBtn, this.newBtn, this.closeBtn),
        this.log, this.side, this.status, this.err, this.cmpBar,
        h("form", { onsubmit: (e) => { e.preventDefault(); this.submit(); } }, this.input, this.sendBtn));
      this.bubbleBadge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
      this.bubble = h("button", { class: "bubble", type: "button", hidden: this.inline, "aria-expanded": "false",
        onclick: () => this.toggle() }, icon("chat"), this.bubbleBadge);
      root.append(this.bubble, this.panel);
      this.greet = h("div", { class: "msg bot" });
      this.log.append(this.greet);
      if (!this.key && !this.tokenUrl) this.showError(t.noKey, false);
      this.label();
    }

    label() {
      const t = this.t;
      this.titleEl.textContent = t.title;
      this.greet.textContent = t.empty;
      this.langBtn.textContent = t.lang;
      this.langBtn.setAttribute("aria-label", t.langLabel);
      this.langBtn.setAttribute("lang", this.lang === "zh" ? "en" : "zh");
      this.histBtn.setAttribute("aria-label", t.history);
      this.histBtn.title = t.history;
      this.newBtn.setAttribute("aria-label", t.newChat);
      this.newBtn.title = t.newChat;
      this.alertBtn.setAttribute("aria-label", t.alerts + (this.unread ? ` · ${t.unread(this.unread)}` : ""));
      this.alertBtn.title = t.alerts;
      this.closeBtn.setAttribute("aria-label", t.close);
      this.bubble.setAttribute("aria-label", t.open + (this.unread ? ` · ${t.unread(this.unread)}` : ""));
      this.input.placeholder = t.placeholder;
      this.input.setAttribute("aria-label", t.placeholder);
      this.sendBtn.textContent = t.send;
      this.retryBtn.textContent = t.retry;
      this.cmpClear.textContent = t.clear;
      this.cmpBtn.textContent = t.compareN(this.picked.size);
      this.log.setAttribute("aria-label", t.title);
      this.panel.setAttribute("lang", this.lang === "zh" ? "zh-CN" : "en");
      this.root.querySelectorAll("[data-i18n]").forEach((el) => {
        const v = t[el.dataset.i18n];
        if (typeof v === "string") { if (el.dataset.aria) el.setAttribute("aria-label", v); else el.textContent = v; }
      });
    }

    setLang(lang) { this.lang = lang; this.label(); }

    toggle(open = this.panel.hidden) {
      if (this.inline) return;
      this.panel.hidden = !open;
      this.bubble.setAttribute("aria-expanded", String(open));
      if (open) this.input.focus(); else this.bubble.focus();
    }

    async api(path, opts = {}, renewed = false) {
      const res = await fetch(this.base + path, { ...opts, headers: { Authorization: `Bearer ${this.key}`,
        ...(opts.body ? { "Content-Type": "application/json" } : {}), ...opts.headers } });
      if (res.status === 401 && this.tokenUrl && !renewed && await this.renew()) return this.api(path, opts, true);
      if (!res.ok) {
        let body = {};
        try { body = await res.json(); } catch { /* not JSON */ }
        const e = body.error || {};
        throw new ApiError(res.status, e.code || String(res.status), res.status === 401 ? this.t.badKey : e.message || this.t.failed);
      }
      return res;
    }

    // Tokens live minutes: one renewal at a time, shared by every request that found it expired.
    renew() {
      this.renewing ||= (async () => {
        try {
          const res = await fetch(this.tokenUrl, { method: "POST", credentials: "same-origin" });
          const body = res.ok ? await res.json() : {};
          if (typeof body.token === "string" && body.token) this.key = body.token;
          return res.ok && Boolean(body.token);
        } catch { return false; } finally { this.renewing = null; }
      })();
      return this.renewing;
    }

    showError(text, retry = true) {
      this.errText.textContent = text;
      this.retryBtn.hidden = !retry;
      this.err.hidden = false;
    }

    showView(which) {
      const chat = which === "chat";
      this.log.hidden = !chat;
      this.side.hidden = chat;
      this.side.dataset.view = which;
      if (!chat) { this.side.replaceChildren(); this.side.focus(); }
    }

    backButton() {
      return h("button", { type: "button", "data-i18n": "back", onclick: () => { this.showView("chat"); this.input.focus(); } }, this.t.back);
    }

    // ---- chat ----
    submit() {
      const text = this.input.value.trim();
      if (!text || this.busy) return;
      this.input.value = "";
      this.send(text);
    }

    add(node) { this.log.append(node); this.log.scrollTop = this.log.scrollHeight; return node; }

    async send(text, echo = true) {
      if (!this.key && !this.tokenUrl) return this.showError(this.t.noKey, false);
      this.showView("chat");
      this.last = text;
      this.err.hidden = true;
      this.root.querySelectorAll(".pills").forEach((p) => p.remove());
      if (echo) this.add(h("div", { class: "msg user" }, h("span", { class: "sr" }, this.t.you + ": "), text));
      this.busy = true;
      this.sendBtn.disabled = true;
      this.status.textContent = this.t.thinking;
      this.log.setAttribute("aria-busy", "true");
      const turn = { text: "", el: null, quantity: null };
      let finished = false;
      this.chatAbort = new AbortController();
      try {
        const res = await this.api("/v1/chat", { method: "POST", signal: this.chatAbort.signal,
          body: JSON.stringify({ message: text, conversation_id: this.cid, language: this.lang, stream: true }) });
        for await (const ev of sse(res)) {
          let d;
          try { d = JSON.parse(ev.data); } catch { continue; }
          if (this.onEvent(ev.event, d, turn)) finished = true;
        }
        if (!finished) throw new ApiError(0, "dropped", this.t.dropped);
      } catch (e) {
        if (e.name === "AbortError") return;
        this.showError(e instanceof ApiError ? e.message : this.t.dropped, !(e.status >= 400 && e.status < 500 && e.status !== 429));
      } finally {
        this.busy = false;
        this.sendBtn.disabled = false;
        this.status.textContent = "";
        this.log.setAttribute("aria-busy", "false");
      }
    }

    retry() {
      if (!this.last) return;
      this.err.hidden = true;
      this.send(this.last, false);
    }

    onEvent(type, d, turn) {
      const t = this.t;
      if (type === "text") {
        turn.text += d.delta || "";
        if (!turn.el) turn.el = this.add(h("div", { class: "msg bot" }));
        turn.el.replaceChildren(markdown(turn.text));
        this.status.textContent = "";
        this.log.scrollTop = this.log.scrollHeight;
      } else if (type === "tool_call") {
        this.status.textContent = t[d.name] || t.tool;
        const q = d.arguments && d.arguments.quantity;
        if (q) turn.quantity = q;
        turn.el = null; turn.text = "";
      } else if (type === "tool_result") {
        this.status.textContent = "";
        this.renderCards(d.cards || [], turn.quantity);
        turn.el = null; turn.text = "";
      } else if (type === "clarify") {
        if (d.question) this.add(h("div", { class: "msg bot" }, markdown(d.question)));
        const opts = (d.options || []).filter((o) => typeof o === "string");
        if (opts.length) this.add(h("div", { class: "pills", role: "group", "aria-label": d.question || "" },
          opts.map((o) => h("button", { type: "button", onclick: () => this.send(o) }, o))));
      } else if (type === "error") {
        this.showError(d.message || t.failed);
      } else if (type === "done") {
        if (d.conversation_id) this.cid = d.conversation_id;
        this.attachFeedback();
        return true;
      }
      return false;
    }

    async attachFeedback() {
      if (!this.cid) return;
      try {
        const conv = await (await this.api(`/v1/conversations/${encodeURIComponent(this.cid)}`)).json();
        const msg = (conv.messages || []).filter((m) => m.role === "assistant").pop();
        if (msg) this.add(this.feedback(msg.id));
      } catch { /* feedback is optional */ }
    }

    feedback(id) {
      const t = this.t;
      const note = h("span", { class: "mu", role: "status" });
      const rate = async (rating, btn) => {
        try {
          await this.api(`/v1/messages/${encodeURIComponent(id)}/feedback`, { method: "POST", body: JSON.stringify({ rating }) });
          box.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === btn)));
          note.textContent = this.t.thanks;
        } catch (e) { note.textContent = e.message; }
      };
      const up = h("button", { type: "button", class: "up", "aria-pressed": "false", "aria-label": t.good, "data-i18n": "good", "data-aria": "1", onclick: () => rate(1, up) }, icon("up"));
      const down = h("button", { type: "button", class: "down", "aria-pressed": "false", "aria-label": t.bad, "data-i18n": "bad", "data-aria": "1", onclick: () => rate(-1, down) }, icon("up", true));
      const box = h("div", { class: "fb", "data-message-id": id }, up, down, note);
      return box;
    }

    // ---- cards ----
    renderCards(cards, quantity, into) {
      const products = [], others = [];
      for (const c of cards) {
        if (!c || typeof c !== "object") continue;
        const p = c.product && c.product.product_id ? { ...c.product, ...c, product: undefined } : c;
        // A card says its kind; one stored before cards did (or a bare API row) is told by shape.
        const kind = c.card || (p.product_id && p.title ? "product" : c.supplier && (c.signals || c.summary) ? "supplier" : "");
        if (PRODUCT_CARDS.has(kind) && p.product_id && p.title) products.push(p);
        else if (kind === "supplier") others.push(this.supplierCard(c));
      }
      const out = [];
      if (products.length) out.push(this.carousel(products, quantity));
      out.push(...others);
      for (const node of out) into ? into.append(node) : this.add(node);
    }

    carousel(products, quantity) {
      const t = this.t;
      const track = h("ul", { class: "track", "aria-label": t.cards });
      for (const p of products) { this.cards.set(p.product_id, p); track.append(this.productCard(p, quantity || p.quantity)); }
      const step = (dir) => track.scrollBy({ left: dir * 210, behavior: "smooth" });
      return h("div", { class: "car" }, track,
        products.length > 1 && h("button", { type: "button", class: "nav l", "aria-label": t.prev, onclick: () => step(-1) }, "‹"),
        products.length > 1 && h("button", { type: "button", class: "nav r", "aria-label": t.next, onclick: () => step(1) }, "›"));
    }

    badges(s) {
      const t = this.t;
      if (!s) return [];
      const region = [s.province, s.city].filter(Boolean).join(" ");
      return [
        s.kind && h("span", { class: "tag k" }, t[s.kind] || s.kind),
        s.integrity_score != null && h("span", { class: "tag" + (s.integrity_score >= 85 ? " good" : "") }, t.integrity(s.integrity_score)),
        region && h("span", { class: "tag" }, region),
        ...(s.badges || []).filter((b) => b !== t[s.kind] && b !== I18N.zh[s.kind]).slice(0, 2).map((b) => h("span", { class: "tag" }, b)),
      ];
    }

    tierAt(p, q) {
      const tiers = (p.price_tiers || []).slice().sort((a, b) => a.min_quantity - b.min_quantity);
      let hit = null;
      for (const tr of tiers) if (q != null && q >= tr.min_quantity) hit = tr;
      return { tiers, hit };
    }

    productCard(p, quantity) {
      const t = this.t;
      const { tiers, hit } = this.tierAt(p, quantity);
      const unit = hit ? hit.unit_price_cents : p.unit_price_cents ?? p.price_cents;
      const url = safeUrl(p.image_url);
      const ph = h("div", { class: "img", "aria-hidden": "true" }, (p.category_path || p.title || "·").split("/").pop().slice(0, 1));
      const img = url ? h("img", { class: "img", alt: "", loading: "lazy", src: url, onerror: () => img.replaceWith(ph) }) : ph;
      const pick = h("button", { type: "button", class: "pick", "aria-pressed": String(this.picked.has(p.product_id)),
        "data-id": p.product_id, onclick: () => this.togglePick(p.product_id) }, t.compare);
      return h("li", { class: "card", "data-product-id": p.product_id, tabindex: "0", "aria-label": p.title },
        img,
        h("div", { class: "t", title: p.title }, p.title),
        h("div", { class: "pr" }, yuan(unit), h("small", null, p.unit ? ` /${p.unit}` : "", quantity ? ` · ${t.at(quantity)}` : "")),
        p.price_difference_cents ? h("div", { class: "mu" }, p.price_difference_cents < 0 ? t.cheaper(yuan(-p.price_difference_cents)) : t.dearer(yuan(p.price_difference_cents))) : null,
        tiers.length > 1 && h("div", { class: "tiers", "aria-label": t.tiers }, tiers.map((tr) =>
          h("span", { class: tr === hit ? "on" : "" }, `≥${tr.min_quantity} ${yuan(tr.unit_price_cents)}`))),
        h("div", { class: "mu" }, [p.moq && t.moq(p.moq, p.unit), p.lead_time_days != null && t.lead(p.lead_time_days)].filter(Boolean).join(" · ")),
        p.supplier && h("div", { class: "mu" }, p.supplier.name),
        h("div", { class: "tags" }, this.badges(p.supplier)),
        h("div", { class: "acts" },
          h("button", { type: "button", class: "sim", onclick: () => this.similar(p) }, t.similar),
          h("button", { type: "button", class: "ask", onclick: () => this.send(this.t.askAbout(p.title, p.product_id)) }, t.ask),
          h("button", { type: "button", class: "watch", "aria-pressed": "false", onclick: (e) => this.watch(p, e.currentTarget) }, t.watch),
          pick));
    }

    supplierCard(c) {
      const t = this.t;
      const s = c.supplier;
      const sum = c.summary || {};
      const follow = s.id && h("button", { type: "button", class: "follow", "aria-pressed": "false", onclick: (e) => this.follow(s, e.currentTarget) }, t.follow);
      return h("div", { class: "sup", "data-supplier-id": s.id || "" },
        h("div", { class: "t" }, s.name || s.id || "", " ", follow),
        h("div", { class: "tags" }, this.badges(s)),
        sum.active_products != null && h("div", { class: "mu" }, `${t.products} ${sum.active_products} · ${yuan(sum.price_min_cents)}–${yuan(sum.price_max_cents)}`),
        (c.signals || []).length > 0 && h("ul", null, c.signals.map((g) =>
          h("li", null, h("span", { class: "tag " + (g.level || "") }, String(g.value ?? "")), " ", g.meaning || g.name))),
        (c.warnings || []).map((w) => h("div", { class: "sev-warning" }, "⚠ ", typeof w === "string" ? w : w.message || JSON.stringify(w))));
    }

    togglePick(id) {
      if (this.picked.has(id)) this.picked.delete(id);
      else if (this.picked.size >= 4) { this.status.textContent = this.t.compareMax; return; }
      else this.picked.add(id);
      this.syncPicks();
    }

    syncPicks() {
      this.root.querySelectorAll(".pick").forEach((b) => b.setAttribute("aria-pressed", String(this.picked.has(b.dataset.id))));
      this.cmpBar.hidden = this.picked.size < 2;
      this.cmpBtn.textContent = this.t.compareN(this.picked.size);
    }

    compare() {
      const t = this.t;
      const ps = [...this.picked].map((id) => this.cards.get(id)).filter(Boolean).slice(0, 4);
      if (ps.length < 2) return;
      const s = (p) => p.supplier || {};
      const rows = [
        [t.price, (p) => yuan(p.unit_price_cents ?? p.price_cents)],
        [t.tiers, (p) => (p.price_tiers || []).map((x) => `≥${x.min_quantity} ${yuan(x.unit_price_cents)}`).join(" / ")],
        ["MOQ", (p) => `${p.moq ?? "—"} ${p.unit || ""}`],
        [t.leadTime, (p) => (p.lead_time_days != null ? t.lead(p.lead_time_days) : "—")],
        [t.stock, (p) => String(p.stock ?? "—")],
        [t.supplier, (p) => `${s(p).name || "—"} (${t[s(p).kind] || s(p).kind || "—"})`],
        [t.region, (p) => [s(p).province, s(p).city].filter(Boolean).join(" ") || "—"],
        ["诚信 / Integrity", (p) => String(s(p).integrity_score ?? "—")],
        [t.f48, (p) => pct(s(p).fulfilment_48h_rate)],
        [t.refund, (p) => pct(s(p).quality_refund_rate)],
      ];
      const table = h("table", null,
        h("thead", null, h("tr", null, h("th", { scope: "col" }, ""), ps.map((p) => h("th", { scope: "col" }, p.title)))),
        h("tbody", null, rows.map(([name, f]) => h("tr", null, h("th", { scope: "row" }, name), ps.map((p) => h("td", null, f(p)))))));
      this.add(h("div", { class: "msg bot cmp" }, table));
      this.picked.clear();
      this.syncPicks();
    }

    async watch(p, button) {
      // PUT is idempotent: tapping again keeps one watch; the alert feed follows the product.
      try {
        await this.api(`/v1/watches/${encodeURIComponent(p.product_id)}`, { method: "PUT" });
        button.setAttribute("aria-pressed", "true");
        button.textContent = this.t.watching;
      } catch (e) { this.status.textContent = e.message; }
    }

    async follow(s, button) {
      // 私域看上新: a followed supplier's new products raise an alert for this buyer.
      try {
        await this.api(`/v1/follows/${encodeURIComponent(s.id)}`, { method: "PUT" });
        button.setAttribute("aria-pressed", "true");
        button.textContent = this.t.following;
      } catch (e) { this.status.textContent = e.message; }
    }

    async act(a, item) {
      // The server carries the action out (a draft is stored for the buyer) and marks it read.
      const t = this.t;
      this.showView("chat");
      try {
        const q = new URLSearchParams({ language: this.lang });
        const r = await (await this.api(`/v1/alerts/${encodeURIComponent(a.id)}/act?${q}`, { method: "POST" })).json();
        if (!a.read_at) { a.read_at = new Date().toISOString(); this.setUnread(this.unread - 1); item.classList.remove("unread"); }
        const box = this.add(h("div", { class: "msg bot", "data-action": r.action }, h("p", null, a.title)));
        if (r.draft) box.append(h("p", { class: "draft" }, t.drafted(r.draft.lines.length, yuan(r.draft.total_cents))));
        if ((r.opportunities || []).length) box.append(h("p", null, t.opportunities),
          h("ul", { class: "opps" }, r.opportunities.map((o) => h("li", null, [o.keyword || o.festival, o.category].filter(Boolean).join(" · ")))));
        if ((r.cards || []).length) this.renderCards(r.cards, null, box);
      } catch (e) { this.showError(e.message, false); }
    }

    async similar(p) {
      const t = this.t;
      this.showView("chat");
      this.status.textContent = t.similar_products;
      try {
        const q = new URLSearchParams({ language: this.lang, limit: "6" });
        const r = await (await this.api(`/v1/products/${encodeURIComponent(p.product_id)}/similar?${q}`)).json();
        const alts = (r.alternatives || []).map((a) => ({ ...a.product, quantity: a.quantity, unit_price_cents: a.unit_price_cents ?? a.product?.unit_price_cents, price_difference_cents: a.price_difference_cents }));
        const box = this.add(h("div", { class: "msg bot" }, h("p", null, alts.length ? t.similarTo(p.title) : t.noSimilar)));
        if (alts.length) this.renderCards(alts, null, box);
      } catch (e) {
        this.showError(e.message, false);
      } finally { this.status.textContent = ""; }
    }

    // ---- history ----
    newChat() {
      this.chatAbort?.abort();
      this.cid = null;
      this.showView("chat");
      this.log.replaceChildren(this.greet);
      this.err.hidden = true;
      this.input.focus();
    }

    async showHistory() {
      const t = this.t;
      this.showView("history");
      const list = h("div", { role: "list", class: "pills", style: "flex-direction:column" });
      this.side.append(h("div", null, this.backButton()), h("h3", { "data-i18n": "history" }, t.history), list);
      try {
        const convs = await (await this.api("/v1/conversations")).json();
        if (!convs.length) list.append(h("p", { class: "mu" }, t.noHistory));
        for (const c of convs) list.append(h("div", { role: "listitem" }, h("button", { type: "button", class: "row", onclick: () => this.openConversation(c.id) },
          c.title || c.id, h("div", { class: "mu" }, new Date(c.updated_at || c.created_at).toLocaleString(this.lang === "zh" ? "zh-CN" : "en")))));
      } catch (e) { list.append(h("p", { class: "sev-critical" }, e.message)); }
    }

    async openConversation(id) {
      try {
        const conv = await (await this.api(`/v1/conversations/${encodeURIComponent(id)}`)).json();
        this.cid = conv.id;
        this.showView("chat");
        this.log.replaceChildren(this.greet);
        for (const m of conv.messages || []) {
          if (m.role === "user") this.add(h("div", { class: "msg user" }, m.content || ""));
          else if (m.role === "assistant") {
            if (m.cards && m.cards.length) this.renderCards(m.cards);
            const el = this.add(h("div", { class: "msg bot" }, markdown(m.content || "")));
            el.after(this.feedback(m.id));
          }
        }
        this.input.focus();
      } catch (e) { this.showError(e.message, false); }
    }

    // ---- alerts ----
    setUnread(n) {
      this.unread = Math.max(0, n);
      for (const b of [this.alertBadge, this.bubbleBadge]) { b.textContent = String(this.unread); b.hidden = !this.unread; }
      this.label();
    }

    async loadAlerts() {
      try {
        const r = await (await this.api("/v1/alerts?limit=30")).json();
        this.alerts = r.alerts || [];
        this.setUnread(r.unread || 0);
      } catch { /* a non-buyer key has no alerts */ }
    }

    async watchAlerts() {
      let lastId = null, delay = 1000;
      this.alertAbort = new AbortController();
      while (!this.alertAbort.signal.aborted) {
        try {
          const res = await this.api("/v1/alerts/stream", { signal: this.alertAbort.signal, headers: lastId ? { "Last-Event-ID": lastId } : {} });
          delay = 1000;
          for await (const ev of sse(res)) {
            if (ev.id) lastId = ev.id;
            if (ev.event !== "alert") continue;
            const a = JSON.parse(ev.data);
            if (this.alerts.some((x) => x.id === a.id)) continue;
            this.alerts.unshift(a);
            this.setUnread(this.unread + (a.read_at ? 0 : 1));
            if (!this.side.hidden && this.side.dataset.view === "alerts") this.showAlerts();
          }
        } catch (e) {
          if (e.name === "AbortError" || (e.status >= 400 && e.status < 500)) return;
          delay = Math.min(delay * 2, 30000);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }

    showAlerts() {
      const t = this.t;
      this.showView("alerts");
      const list = h("div", { role: "list", class: "view", style: "padding:0" });
      this.side.append(h("div", null, this.backButton()), h("h3", { "data-i18n": "alerts" }, t.alerts), list);
      if (!this.alerts.length) list.append(h("p", { class: "mu" }, t.noAlerts));
      for (const a of this.alerts) {
        const pid = a.action && a.action.product_id;
        const read = h("button", { type: "button", class: "ack", onclick: async () => {
          try {
            await this.api(`/v1/alerts/${encodeURIComponent(a.id)}/ack`, { method: "POST" });
            a.read_at = new Date().toISOString();
            this.setUnread(this.unread - 1);
            item.classList.remove("unread");
            read.remove();
          } catch (e) { this.showError(e.message, false); }
        } }, t.markRead);
        const item = h("div", { role: "listitem", class: "al" + (a.read_at ? "" : " unread"), "data-alert-id": a.id },
          h("div", { class: "t sev-" + a.severity }, a.title),
          h("div", { class: "mu" }, [a.severity, a.kind, a.created_at && new Date(a.created_at).toLocaleString(this.lang === "zh" ? "zh-CN" : "en")].filter(Boolean).join(" · ")),
          h("div", { class: "acts" },
            a.action && t.act[a.action.type] && h("button", { type: "button", class: "act", "data-act": a.action.type, onclick: () => this.act(a, item) }, t.act[a.action.type]),
            pid && h("button", { type: "button", onclick: () => this.send(this.t.askAbout(a.title, pid)) }, t.view),
            pid && h("button", { type: "button", onclick: () => this.similar({ product_id: pid, title: pid }) }, t.similar),
            !a.read_at && read));
        list.append(item);
      }
    }
  }

  if (!customElements.get("sourcing-chat")) customElements.define("sourcing-chat", SourcingChat);

  // Auto-create from the <script> tag's data-* attributes.
  const d = script && script.dataset;
  if (d && ("token" in d || "tokenUrl" in d || "apiKey" in d)) {
    const mount = () => {
      const el = document.createElement("sourcing-chat");
      el.setAttribute("token", d.token || d.apiKey || "");
      for (const [k, a] of [["tokenUrl", "token-url"], ["apiBase", "api-base"], ["lang", "lang"], ["theme", "theme"]]) if (d[k]) el.setAttribute(a, d[k]);
      const host = d.container && document.querySelector(d.container);
      if (host) el.setAttribute("inline", "");
      (host || document.body).append(el);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
    else mount();
  }
})();
