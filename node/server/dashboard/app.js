// lichen dashboard: reads the node's live feed (GET /v1/events, server-sent events read with
// fetch so a bearer token can be sent) and, for the search box, GET /v1/txs, /v1/blocks and
// /v1/accounts. Read-only; no library. Fields are read defensively: newer nodes add fields,
// older ones lack some.
"use strict";

const WINDOW_S = 300;          // the charts show the last five minutes
const BLOCKS_SHOWN = 12;
const TXS_SHOWN = 4;           // per block; the feed carries up to 20, the search shows all
const TOKEN_KEY = "lichen.read_token";
const $ = (id) => document.getElementById(id);

const view = {
  nodeId: null, name: "", devnet: false,
  seconds: new Map(),          // unix second -> {ok, failed, lat: [ms]}
  blocks: [],                  // newest first
  faultMarks: [],              // {t_ms, node, faults}
  lastStatus: null,
  blocksDirty: false,
};

// ---- the feed -------------------------------------------------------------------------------
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() } });
  const body = await resp.json().catch(() => ({}));
  if (resp.status === 401 || resp.status === 403) askToken();
  return { status: resp.status, body };
}

let retryMs = 500;
async function connect() {
  setFeedState("connecting", "");
  try {
    const resp = await fetch("/v1/events", { headers: { Accept: "text/event-stream", ...authHeaders() } });
    if (resp.status === 401 || resp.status === 403) {
      setFeedState("needs a read token", "bad");
      askToken();
      return;  // the token dialog reconnects
    }
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    retryMs = 500;
    setFeedState("live", "ok");
    await readEvents(resp.body.getReader());
    throw new Error("stream ended");
  } catch (err) {
    setFeedState("reconnecting (" + (err.message || err) + ")", "bad");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (!data) continue;
      try { onEvent(name, JSON.parse(data)); } catch (e) { console.error("bad event", name, e); }
    }
  }
}

function onEvent(name, body) {
  if (name === "hello") onHello(body);
  else if (name === "block") onBlock(body, true);
  else if (name === "status") onStatus(body);
}

function onHello(h) {
  view.nodeId = h.node_id; view.name = h.name || ""; view.devnet = !!h.devnet;
  view.seconds.clear();
  for (const s of h.seconds || []) {
    const lat = s.latency_p50_ms != null ? [s.latency_p50_ms] : [];
    if (s.latency_max_ms != null && s.latency_max_ms !== s.latency_p50_ms) lat.push(s.latency_max_ms);
    view.seconds.set(s.t, { ok: s.ok || 0, failed: s.failed || 0, lat });
  }
  view.blocks = [];
  for (const b of h.blocks || []) onBlock(b, false);
  view.faultMarks = h.fault_marks || [];
  $("serving").textContent = "served by " + (view.name || short(view.nodeId));
  document.querySelectorAll(".serving-name").forEach((e) => { e.textContent = view.name || "this node"; });
  $("token-button").hidden = !h.read_auth;
  renderBlocks(); renderCharts();
}

function onBlock(b, live) {
  view.blocks.unshift(b);
  view.blocks.length = Math.min(view.blocks.length, BLOCKS_SHOWN);
  if (live) {
    const t = Math.floor((b.committed_ms || Date.now()) / 1000);
    const s = view.seconds.get(t) || { ok: 0, failed: 0, lat: [] };
    s.ok += b.ok || 0;
    s.failed += (b.tx_count || 0) - (b.ok || 0);
    for (const ms of b.latency_ms || []) s.lat.push(ms);
    view.seconds.set(t, s);
    view.blocksDirty = true;  // drawn by the next frame (at most four a second), not per block
  }
}

function onStatus(st) {
  view.lastStatus = st;
  if (Array.isArray(st.fault_marks)) view.faultMarks = st.fault_marks;
  renderNetwork(st.network || [], st.status || {});
  renderLinks(st.links || [], st.faults);
  renderRefusals(st.refusals || {});
  renderFaults(st.network || []);
  $("streams").textContent = (st.streams || 0) + " live feed(s) open on " + (view.name || "this node");
}

// ---- rendering ------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function short(h) { return h ? String(h).slice(0, 12) : "–"; }
function pill(text, cls) { return el("span", { class: "pill " + (cls || ""), text }); }
function setFeedState(text, cls) { const p = $("feed-state"); p.textContent = text; p.className = "pill " + cls; }

// Agreement: nodes at the same height must report the same block and state hash; a node that
// says it diverged is a mismatch too. Nodes behind are only behind.
function agreement(nodes) {
  const up = nodes.filter((n) => n.up && n.status);
  const byHeight = new Map();
  for (const n of up) {
    const k = n.status.height;
    if (!byHeight.has(k)) byHeight.set(k, { block: new Set(), state: new Set() });
    byHeight.get(k).block.add(n.status.block_hash);
    byHeight.get(k).state.add(n.status.state_hash);
  }
  const split = new Set();
  for (const [h, g] of byHeight) if (g.block.size > 1 || g.state.size > 1) split.add(h);
  const top = up.length ? Math.max(...up.map((n) => n.status.height)) : 0;
  return { up, split, top, diverged: up.filter((n) => n.status.diverged) };
}

function renderNetwork(nodes, own) {
  const tbody = $("network").querySelector("tbody");
  const a = agreement(nodes);
  tbody.replaceChildren();
  for (const n of nodes) {
    const s = n.status || {};
    const row = el("tr", { class: n.up ? "up" : "down", "data-node": n.name, "data-up": n.up ? "1" : "0",
                           "data-role": s.role || "" });
    const mismatch = n.up && (a.split.has(s.height) || s.diverged);
    const isServing = n.node_id === view.nodeId;
    row.append(
      el("td", {}, el("strong", { text: n.name || short(n.node_id) }), isServing ? " (serving)" : "",
         el("div", { class: "mono note", text: short(n.node_id) })),
      el("td", {}, n.up ? pill("up", "ok") : pill("DOWN", "bad"),
         n.up ? null : el("div", { class: "note", text: n.error || "" })),
      el("td", {}, n.up ? pill(s.role || "?", s.role === "leader" ? "leader" : "") : "–"),
      el("td", { text: n.up ? String(s.term ?? "–") : "–" }),
      el("td", { text: n.up ? heightText(s.height, a.top) : "–" }),
      el("td", { class: "mono" + (mismatch ? " mismatch" : ""), text: n.up ? short(s.block_hash) : "–",
                 title: s.block_hash || "" }),
      el("td", { class: "mono" + (mismatch ? " mismatch" : ""), text: n.up ? short(s.state_hash) : "–",
                 title: s.state_hash || "" }),
      el("td", { text: n.up ? peersText(s) : "–" }),
      el("td", { text: n.up ? String(s.mempool_size ?? "–") : "–" }),
    );
    tbody.append(row);
  }
  const ag = $("agreement");
  const leaders = a.up.filter((n) => n.status.role === "leader");
  if (a.split.size || a.diverged.length) {
    ag.textContent = "MISMATCH: block or state hash differ at height " + [...a.split].join(", ") +
      (a.diverged.length ? " (diverged: " + a.diverged.map((n) => n.name).join(", ") + ")" : "");
    ag.className = "pill bad";
  } else {
    const down = nodes.length - a.up.length;
    const behind = a.up.filter((n) => n.status.height < a.top).length;
    ag.textContent = a.up.length + " of " + nodes.length + " up, agree at height " + a.top +
      (leaders.length ? " · leader " + leaders.map((n) => n.name).join(", ") : " · no leader") +
      (behind ? " · " + behind + " behind" : "") + (down ? " · " + down + " down" : "");
    ag.className = "pill " + (down || behind || !leaders.length ? "warn" : "ok");
  }
}
function heightText(h, top) { return h === top ? String(h) : h + " (" + (top - h) + " behind)"; }
function peersText(s) {
  const peers = Array.isArray(s.peers) ? s.peers.length : 0;
  const others = new Set([...(s.voters || []), ...(s.learners || [])]);
  others.delete(s.node_id);
  return others.size ? peers + " / " + others.size : String(peers);
}

function renderLinks(links, faults) {
  const tbody = $("links").querySelector("tbody");
  const cut = new Set((faults && faults.partitioned) || []);
  const loss = (faults && faults.loss) || {};
  const lossAll = (faults && faults.loss_all) || 0;
  tbody.replaceChildren(...links.map((l) => {
    const state = !l.connected ? pill("no link", "bad")
      : cut.has(l.node_id) ? pill("linked · frames cut (fault)", "bad")
      : (loss[l.node_id] || lossAll) ? pill("linked · " + Math.round((loss[l.node_id] || lossAll) * 100) + "% lost (fault)", "warn")
      : pill("linked", "ok");
    return el("tr", { "data-peer": nameOf(l.node_id, l.name) },
      el("td", { text: nameOf(l.node_id, l.name) }), el("td", { class: "mono", text: short(l.node_id) }),
      el("td", {}, state));
  }));
  if (!links.length) tbody.append(el("tr", {}, el("td", { class: "note", text: "no peers" })));
}

const REFUSAL_KINDS = { admission: "refused at admission", execution: "failed in a block",
  pool_dropped: "dropped from the pool", raft: "Raft messages refused", peer_requests: "peer requests refused" };
function renderRefusals(refusals) {
  const rows = [];
  for (const [kind, codes] of Object.entries(refusals)) {
    for (const [code, n] of Object.entries(codes || {})) {
      rows.push(el("tr", {}, el("td", { class: "mono", text: code }), el("td", { text: String(n) }),
                   el("td", { class: "note", text: REFUSAL_KINDS[kind] || kind })));
    }
  }
  const box = $("refusals");
  box.replaceChildren(rows.length ? el("table", {}, el("tbody", {}, ...rows))
                                  : el("p", { class: "note", text: "nothing refused since this node started" }));
}

function faultText(f) {
  if (!f) return "";
  const parts = [];
  if ((f.partitioned || []).length) parts.push("cut off from " + f.partitioned.map(nameOf).join(", "));
  if (f.loss_all) parts.push(Math.round(f.loss_all * 100) + "% of frames to every peer dropped");
  for (const [p, x] of Object.entries(f.loss || {})) parts.push(Math.round(x * 100) + "% to " + nameOf(p) + " dropped");
  return parts.join("; ");
}
function nameOf(id, fallback) {
  const n = (view.lastStatus?.network || []).find((x) => x.node_id === id);
  return n ? n.name : (fallback || short(id));
}
function renderFaults(nodes) {
  const section = $("faults-section");
  if (!view.devnet) { section.hidden = true; return; }
  section.hidden = false;
  const active = nodes.filter((n) => n.up && faultText(n.faults));
  $("faults").replaceChildren(active.length
    ? el("ul", {}, ...active.map((n) => el("li", {}, el("strong", { text: n.name + ": " }), faultText(n.faults))))
    : el("p", { class: "note", text: "none: the network is whole (marks on the charts show when faults changed)" }));
}

function renderBlocks(freshHeight) {
  const box = $("blocks");
  if (!view.blocks.length) return;
  box.replaceChildren(...view.blocks.map((b) => {
    const failed = Object.entries(b.failed || {});
    const outcome = failed.length
      ? [pill((b.ok || 0) + " ok", "ok"), ...failed.map(([c, n]) => pill(n + " " + c, "bad"))]
      : [pill((b.ok || 0) + " ok", b.tx_count ? "ok" : "")];
    const shown = (b.txs || []).slice(0, TXS_SHOWN);
    const txs = shown.map((t) => el("span", { class: "tx", "data-tx": t.hash },
      el("a", { href: "#", class: "mono", text: t.hash.slice(0, 16) + "…", title: t.hash,
                onclick: (e) => { e.preventDefault(); search(t.hash); } }),
      t.code ? el("span", { class: "code", text: t.code }) : null));
    const more = (b.tx_count || 0) - shown.length;
    if (more > 0) txs.push(el("div", { class: "note", text: "… and " + more + " more" }));
    return el("div", { class: "block" + (b.height === freshHeight ? " fresh" : ""), "data-height": b.height },
      el("div", { class: "head" },
        el("a", { href: "#", class: "height", text: "#" + b.height,
                  onclick: (e) => { e.preventDefault(); search(String(b.height)); } }),
        el("span", { class: "note", text: new Date(b.timestamp || 0).toLocaleTimeString() }),
        el("span", { text: (b.tx_count || 0) + " tx" }), ...outcome,
        el("span", { class: "mono note", text: "hash " + short(b.hash) + " · state " + short(b.state_hash) })),
      el("div", { class: "txs" }, ...txs));
  }));
}

// ---- charts (plain SVG) ---------------------------------------------------------------------
const W = 600, H = 170, L = 44, R = 8, T = 8, B = 22;
function svgEl(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
function chart(svg, now, series) {
  svg.replaceChildren();
  const t0 = now - WINDOW_S;
  const x = (t) => L + ((t - t0) / WINDOW_S) * (W - L - R);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const y = (v) => T + (1 - v / max) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    svg.append(svgEl("line", { class: "axis", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
    const label = svgEl("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" });
    label.textContent = fmt(max * f);
    svg.append(label);
  }
  for (const m of [5, 4, 3, 2, 1, 0]) {
    const label = svgEl("text", { x: x(now - m * 60), y: H - 6, "text-anchor": m ? "middle" : "end" });
    label.textContent = m ? "-" + m + " min" : "now";
    svg.append(label);
  }
  for (const group of faultGroups(t0)) {
    const t = group.t;
    const healed = group.marks.every((m) => !faultText(m.faults));
    svg.append(svgEl("line", { class: "fault", x1: x(t), x2: x(t), y1: T, y2: H - B }));
    const label = svgEl("text", { class: "fault", x: x(t) + 3, y: T + 10 + 12 * (group.row % 2),
                                  "text-anchor": x(t) > W - 90 ? "end" : "start" });
    label.textContent = healed ? "healed" : "⚡ fault";
    const title = svgEl("title", {});
    title.textContent = group.marks.map((m) => m.node + ": " + (faultText(m.faults) || "no faults")).join("\n");
    label.append(title);
    svg.append(label);
  }
  for (const s of series) {
    if (!s.points.length) continue;
    // a gap of more than two seconds without a value is left blank, not bridged
    const d = s.points.map((p, i) => (i && p[0] - s.points[i - 1][0] <= 2 ? "L" : "M") +
                                     x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
    svg.append(svgEl("path", { class: s.cls, d }));
    if (s.dots) {  // a lone sample is a dot, not an invisible line of one point
      for (const p of s.points) svg.append(svgEl("circle", { class: s.cls + " dot", cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2 }));
    }
  }
}
// Fault changes seen within two seconds of each other (one partition touches every node) are
// one mark on the charts.
function faultGroups(t0) {
  const groups = [];
  for (const m of view.faultMarks) {
    const t = m.t_ms / 1000;
    if (t < t0) continue;
    const last = groups[groups.length - 1];
    if (last && t - last.t <= 2) last.marks.push(m);
    else groups.push({ t, marks: [m], row: groups.length });
  }
  return groups;
}
function fmt(v) { return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k" : String(Math.round(v * 10) / 10); }

function renderCharts() {
  const now = Math.floor(Date.now() / 1000);
  for (const t of view.seconds.keys()) if (t < now - WINDOW_S - 5) view.seconds.delete(t);
  const ok = [], failed = [], p50 = [], max = [];
  for (let t = now - WINDOW_S; t <= now; t++) {  // the current second counts as it fills
    const s = view.seconds.get(t);
    ok.push([t, s ? s.ok : 0]);
    failed.push([t, s ? s.failed : 0]);
    if (s && s.lat.length) {
      const lat = [...s.lat].sort((a, b) => a - b);
      p50.push([t, lat[Math.floor(lat.length / 2)]]);
      max.push([t, lat[lat.length - 1]]);
    }
  }
  chart($("chart-tps"), now, [{ cls: "failed", points: failed }, { cls: "ok", points: ok }]);
  chart($("chart-latency"), now, [{ cls: "max", points: max }, { cls: "p50", points: p50, dots: true }]);
  const last10 = ok.slice(-11, -1).reduce((a, p) => a + p[1], 0) / 10;  // ten whole seconds
  $("tps-now").textContent = "green ok, red failed · " + fmt(last10) + " tx/s over the last 10 s";
  const recent = p50.filter((p) => p[0] >= now - 30);
  $("lat-now").textContent = recent.length ? "blue p50, dashed max · p50 " + recent[recent.length - 1][1] + " ms"
                                           : "no transaction sampled in the last 30 s";
}

// ---- search (GET routes only) ---------------------------------------------------------------
async function search(q) {
  q = q.trim().toLowerCase();
  if (!q) return;
  const out = $("search-result");
  $("search-result-section").hidden = false;
  out.replaceChildren(el("p", { class: "note", text: "looking up " + q + " …" }));
  let found = [];
  if (/^\d+$/.test(q)) {
    const r = await getJSON("/v1/blocks/" + q);
    found.push(["block " + q, r]);
  } else if (/^[0-9a-f]{64}$/.test(q)) {
    const [tx, acct] = await Promise.all([getJSON("/v1/txs/" + q), getJSON("/v1/accounts/" + q)]);
    if (tx.status === 200 && tx.body.status !== "unknown") found.push(["transaction", tx]);
    if (acct.status === 200 && acctExists(acct.body)) found.push(["account", acct]);
    if (!found.length) found.push(["transaction", tx]);
  } else {
    out.replaceChildren(el("p", { class: "note", text: "type a block height, or 64 hex digits (a tx hash or an account address)" }));
    return;
  }
  out.replaceChildren(...found.map(([what, r]) => renderFound(what, r)));
}
function acctExists(a) {
  return (a.nonce || 0) > 0 || Object.keys(a.balances || {}).length > 0 || a.attestation ||
         (Array.isArray(a.attestations) && a.attestations.length > 0) || a.institution;
}
function renderFound(what, r) {
  const b = r.body || {};
  if (r.status !== 200) {
    return el("div", {}, el("p", {}, pill(b.error || ("HTTP " + r.status), "bad"), " ", b.message || ""));
  }
  const pairs = [];
  if (what === "transaction") {
    pairs.push(["status", b.status], ["height", b.height], ["index", b.index], ["reason", b.code && b.code + ": " + b.message]);
    if (b.tx) pairs.push(["kind", b.tx.kind], ["sender", b.tx.sender], ["nonce", b.tx.nonce]);
  } else if (what === "account") {
    pairs.push(["address", b.address], ["nonce", b.nonce], ["balances", JSON.stringify(b.balances || {})],
               ["frozen", b.frozen], ["kyc", b.kyc ? (b.kyc.valid ? "valid" : (b.kyc.error || "") + " " + (b.kyc.message || "")) : null],
               ["institution", b.institution && b.institution.name]);
  } else {
    pairs.push(["hash", b.hash], ["time", b.timestamp && new Date(b.timestamp).toISOString()], ["txs", b.tx_count],
               ["proposer", b.proposer], ["state hash", b.state_hash]);
  }
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== "") dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  return el("div", { class: "found" }, el("h3", { text: what }), dl, el("details", {}, el("summary", { text: "JSON" }),
            el("pre", { text: JSON.stringify(b, null, 2) })));
}

// ---- token (read_auth) ----------------------------------------------------------------------
let asking = false;
function askToken() {
  if (asking) return;
  asking = true;
  $("token-button").hidden = false;
  $("token-dialog").showModal();
}
$("token-form").addEventListener("submit", () => {
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  asking = false;
  connect();
});
$("token-button").addEventListener("click", askToken);
$("search").addEventListener("submit", (e) => { e.preventDefault(); search($("search-input").value); });
$("search-close").addEventListener("click", () => { $("search-result-section").hidden = true; });

// Under load blocks come every few milliseconds: redraw the block list at most four times a
// second, so the page costs the machine (often the node's own) little.
setInterval(() => {
  if (!view.blocksDirty) return;
  view.blocksDirty = false;
  requestAnimationFrame(() => renderBlocks(view.blocks.length ? view.blocks[0].height : undefined));
}, 250);
setInterval(renderCharts, 1000);
connect();
