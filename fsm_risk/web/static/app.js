// fsm-risk dashboard: renders the service's view, received as server-sent events.
// Read-only: it only ever GETs. Countdowns tick here, corrected for the server's clock.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
let view = null;
let skew = 0; // server time - browser time, ms

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c.nodeType ? c : String(c));
  return e;
};
const colour = (f) => (f > 0.8 ? "red" : f >= 0.5 ? "yellow" : "green"); // as `status`
const money = (v) => (v == null ? "?" : v);
const sign = (v) => (v == null ? "" : Number(v) < 0 ? "neg" : Number(v) > 0 ? "pos" : "");
const fmtLeft = (ms) => {
  if (ms <= 0) return "now";
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const p = (n) => String(n).padStart(2, "0");
  return (d ? d + "d " : "") + h + ":" + p(m) + ":" + p(s);
};
const local = (iso, tz) => new Date(iso).toLocaleString([], {
  timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });

function pill(id, text, cls) { const p = document.getElementById(id); p.textContent = text; p.className = "pill " + cls; }

function countdown(label, iso, tz) {
  return el("span", { class: "countdown", "data-until": iso },
    label + " ", el("b", {}, ""), el("span", { class: "muted" }, " (" + local(iso, tz) + ")"));
}

// what holds the whole service back holds each account back (as `status` says it)
const HELD_BACK = {
  "stopping": "NOT ENFORCING: the service is stopping",
  "feed blind": "NOT ENFORCING: blind to a kind of the gateway's records (see feed)",
  "state not saved": "NOT ENFORCING as it should: its state is not saved",
};

function card(a, tz) {
  const c = el("section", { class: "card", "data-account": a.account_id, "data-state": a.state });
  c.append(el("h2", {}, a.name, el("span", { class: "muted" }, "#" + a.account_id),
    el("span", { class: "state " + a.state }, a.state),
    a.can_trade === false ? el("span", { class: "pill bad" }, "gateway: cannot trade") : null));
  // enforcement as `status` says it: one truth with /readyz and /metrics
  const time = (iso) => new Date(iso).toLocaleTimeString([], { timeZone: tz });
  for (const [cid, since] of Object.entries(a.closes_unconfirmed || {})) {
    c.append(el("div", { class: "pill bad", "data-readiness": a.readiness },
      "NOT ENFORCING: close of " + cid + " not confirmed since " + time(since)));
  }
  for (const k of a.cancels_unconfirmed || []) {
    c.append(el("div", { class: "pill bad", "data-readiness": a.readiness },
      "NOT ENFORCING: cancel of order " + k.order_id + " in " + k.contract_id +
      (k.refused ? " refused since " : " not confirmed since ") + time(k.since)));
  }
  if (a.readiness === "enforcing") c.append(el("div", { class: "pill warn", "data-readiness": a.readiness },
    "ENFORCING; its trades are still being read: the P&L limits wait for them"));
  else if (a.readiness === "feed down") c.append(el("div", { class: "pill bad", "data-readiness": a.readiness },
    "NOT ENFORCING: the gateway's live feed is down (reconnecting)"));
  else if (HELD_BACK[a.readiness]) c.append(el("div", { class: "pill bad", "data-readiness": a.readiness },
    HELD_BACK[a.readiness]));
  else if (a.readiness === "reads failing") c.append(el("div", { class: "pill bad", "data-readiness": a.readiness },
    "READS FAILING: its state at the gateway is not confirmed"));
  else if (a.readiness && !["ready", "close not confirmed", "cancel not confirmed"].includes(a.readiness)) {
    c.append(el("div", { class: "pill bad", "data-readiness": a.readiness }, "NOT ENFORCING YET: " + a.readiness));
  }
  const cds = el("div", { class: "countdowns" });
  if (a.lock) {
    // its end passed while its trades are still being read: its rule judges them first
    if (a.lock.awaits_read) cds.append(el("span", {}, "locked until its trades are read (its end has passed)"));
    else if (a.lock.until) cds.append(countdown("lock ends in", a.lock.until, tz));
    else cds.append(el("span", {}, "locked until its condition ends"));
    cds.append(el("span", { class: "muted" }, a.lock.source + " " + a.lock.reason));
    // a weaker lock that outlasts it: not free to trade at the end above
    for (const h of a.lock.then || []) {
      if (h.until) cds.append(countdown("then " + h.kind + ", ends in", h.until, tz));
      else cds.append(el("span", {}, "then " + h.kind + " until its condition ends"));
      cds.append(el("span", { class: "muted" }, h.source + " " + h.reason));
    }
  }
  if (a.flat_by && a.positions.length) cds.append(countdown("flat by in", a.flat_by, tz));
  else if (a.flat_by) cds.append(countdown("flat-by in", a.flat_by, tz));
  c.append(cds);
  const g = el("div", { class: "grid2 num" });
  for (const key of ["day", "week"]) {
    const b = a[key];
    g.append(el("div", {}, key + " net ", el("b", { class: sign(b.net) }, money(b.net)),
      el("span", { class: "muted" }, " (realized " + b.realized + ", fees " + b.fees + ")")));
  }
  g.append(el("div", {}, "balance ", el("b", {}, money(a.balance))));
  g.append(el("div", {}, "equity ", el("b", {}, money(a.equity))));
  if (a.drawdown) {
    g.append(el("div", {}, "drawdown floor ", el("b", {}, a.drawdown.floor)));
    g.append(el("div", {}, "cushion ", el("b", { class: sign(a.drawdown.cushion) }, a.drawdown.cushion)));
  }
  c.append(g);
  if (a.rules.length) {
    c.append(el("h3", {}, "rules"));
    for (const r of a.rules) {
      const pct = Math.max(0, Math.min(100, r.fraction * 100));
      const bar = el("div", { class: "bar " + colour(r.fraction) }, el("span"));
      bar.firstChild.style.width = pct.toFixed(1) + "%";
      c.append(el("div", { class: "rule", "data-rule": r.id },
        el("div", { class: "label" }, el("span", {}, r.id + " " + r.name),
          el("span", { class: "num" }, r.value + " / " + r.limit + " " + r.unit + "  " + Math.round(r.fraction * 100) + "%")),
        bar));
      // a P&L rule leaving a stale quote's value out: the room shown may go at the next quote
      if ((r.detail || "").includes("not counted till quoted")) c.append(el("div",
        { class: "pill bad" }, r.detail.split("; ").slice(-1)[0] + ": it may fire at once"));
    }
  }
  c.append(el("h3", {}, "positions"));
  if (!a.positions.length) c.append(el("div", { class: "muted" }, "none"));
  else {
    const t = el("table", {}, el("tr", {}, el("th", {}, "contract"), el("th", {}, "size"),
      el("th", { class: "hide-sm" }, "avg"), el("th", {}, "mark"), el("th", {}, "quote age"), el("th", {}, "unrealized")));
    for (const p of a.positions) {
      const age = p.mark_age_seconds == null ? "no quote" : p.mark_age_seconds.toFixed(0) + " s";
      t.append(el("tr", {}, el("td", {}, p.contract), el("td", {}, p.side + " " + p.size),
        el("td", { class: "hide-sm num" }, p.average_price), el("td", { class: "num" }, p.mark || "-"),
        el("td", { class: p.stale ? "stale" : "num" }, p.stale ? "STALE " + age : age),
        el("td", { class: "num " + sign(p.unrealized) }, money(p.unrealized))));
    }
    c.append(t);
  }
  for (const k of a.contracts) c.append(el("div", { class: "muted" }, "contract " + k.contract + " " + k.state + (k.source ? " (" + k.source + ")" : "")));
  c.append(el("h3", {}, "today's transitions"));
  if (!a.transitions.length) c.append(el("div", { class: "muted" }, "none"));
  else {
    const t = el("table", { class: "transitions" });
    for (const x of a.transitions.slice(-12).reverse()) {
      t.append(el("tr", {}, el("td", { class: "num" }, new Date(x.at).toLocaleTimeString([], { timeZone: tz })),
        el("td", {}, (x.contract ? x.contract + " " : "") + x.from + " → " + x.to),
        el("td", { class: "hide-sm muted" }, (x.rule || x.actor) + " " + x.trigger)));
    }
    c.append(t);
  }
  return c;
}

function render() {
  if (!view) return;
  const tz = view.timezone;
  const main = document.getElementById("accounts");
  main.replaceChildren(...(view.accounts.length ? view.accounts.map((a) => card(a, tz))
    : [el("p", { class: "muted" }, "no account is monitored yet")]));
  const f = view.feed;
  if (f.healthy) pill("feed", "feed healthy", "ok");
  else {
    const parts = Object.entries(f.user_hub).filter(([, up]) => !up).map(([a]) => "user hub " + a);
    if (!f.market_hub) parts.push("market hub");
    if (f.silent_contracts.length) parts.push("silent " + f.silent_contracts.join(", "));
    if (f.authenticated === false) parts.push("login refused");
    if ((f.blind || []).length) parts.push("blind to " + f.blind.join(", "));
    for (const [acc, r] of Object.entries(f.reads_failing || {})) {
      parts.push("reads of " + acc + " failing, nothing confirmed since " +
        new Date(r.since).toLocaleTimeString([], { timeZone: view.timezone }));
    }
    pill("feed", "feed DEGRADED: " + parts.join("; "), "bad");
  }
  const n = view.notifier;
  if (!n.enabled) pill("notifier", "notifications off", "");
  else pill("notifier", "notifier " + (n.healthy ? "ok" : "FAILING") + " · sent " + n.sent +
    (n.failed ? " · failed " + n.failed : "") + (n.queued ? " · queued " + n.queued : ""), n.healthy ? "ok" : "bad");
  pill("ready", view.service.ready ? "enforcing" : "NOT READY", view.service.ready ? "ok" : "bad");
  document.getElementById("resets").textContent = " Next daily reset " + local(view.next_daily_reset, tz) +
    ", weekly " + local(view.next_weekly_reset, tz) + ".";
  tick();
}

function tick() {
  const now = Date.now() + skew;
  for (const c of document.querySelectorAll("[data-until]")) {
    c.querySelector("b").textContent = fmtLeft(new Date(c.getAttribute("data-until")) - now);
  }
  if (view) document.getElementById("clock").textContent = new Date(now).toLocaleString([], {
    timeZone: view.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
}

function connect() {
  const es = new EventSource("events" + q);
  es.onopen = () => pill("conn", "live", "ok");
  es.onmessage = (m) => {
    view = JSON.parse(m.data);
    skew = new Date(view.at) - Date.now();
    render();
  };
  es.onerror = () => pill("conn", "reconnecting…", "warn");
}
setInterval(tick, 1000);
connect();
