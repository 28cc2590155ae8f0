// npp console: one page over the public JSON API. Every value shown comes from the API with the
// token the user signed in with; every text is set with textContent (nothing from the server is
// parsed as HTML). The server refuses whatever it refuses; the page only avoids offering it.
"use strict";

const TOKEN_KEY = "npp-console-token";
const REFRESH_MS = 5000;
const STATES = ["CREATED", "AUTHORISED", "SENT", "ACKNOWLEDGED", "SETTLED", "FAILED", "EXPIRED"];
const COLOURS = {
  CREATED: "#555555", AUTHORISED: "#7a4f00", SENT: "#0b4f9c", ACKNOWLEDGED: "#5a2d91",
  SETTLED: "#0a5d2a", FAILED: "#8a1111", EXPIRED: "#9c2f6b",
};

const $ = (id) => document.getElementById(id);
const session = { token: null, me: null, view: null, payment: null, queue: [], sort: { key: "since", dir: 1 }, cursor: null, timer: null, drafts: {} };

// ---- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${session.token}` }, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    let problem = null;
    if (type.includes("json")) {
      problem = await response.json().catch(() => null);
    }
    throw new ApiError(response.status, problem);
  }
  if (options.raw) {
    return response.text();
  }
  return type.includes("json") ? response.json() : response.text();
}

function say(text, isError) {
  const status = $("status");
  status.textContent = text || "";
  status.className = isError ? "status error" : "status";
}

function problemText(error) {
  if (error instanceof ApiError) {
    const rule = error.problem.rule ? ` [${error.problem.rule}]` : "";
    return `${error.problem.title || "Refused"}: ${error.message}${rule}`;
  }
  return `The server could not be reached: ${error.message}`;
}

// ---- small DOM helpers --------------------------------------------------------------------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell);
    else if (cell && typeof cell === "object") {
      td.textContent = cell.text;
      if (cell.className) td.className = cell.className;
    } else td.textContent = cell === undefined || cell === null ? "" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function money(cents) {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const dollars = Math.floor(abs / 100).toLocaleString("en-AU");
  return `${sign}$${dollars}.${String(abs % 100).padStart(2, "0")}`;
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

function paymentLink(id) {
  const button = el("button", id, "link");
  button.type = "button";
  button.dataset.payment = id;
  button.addEventListener("click", () => openPayment(id));
  return button;
}

function facts(dl, pairs) {
  const nodes = [];
  for (const [name, value] of pairs) {
    nodes.push(el("dt", name));
    const dd = el("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value === undefined || value === null ? "—" : String(value);
    nodes.push(dd);
  }
  dl.replaceChildren(...nodes);
}

// ---- signing in and out -------------------------------------------------------------------

async function signIn(token) {
  session.token = token;
  try {
    const me = await api("/v1/me");
    if (me.role !== "operator" && me.role !== "auditor" && me.role !== "admin") {
      session.token = null;
      say(`Key ${me.name} is a ${me.role} key; the console needs an operator or auditor key.`, true);
      return false;
    }
    session.me = me;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("who-name").textContent = `Signed in as ${me.name} (${me.role})`;
    $("who").hidden = false;
    $("nav").hidden = false;
    $("nav-queue").hidden = !isOperator();
    $("nav-requests").hidden = false;
    say("");
    show(isOperator() ? "queue" : "payments");
    return true;
  } catch (error) {
    session.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    say(error instanceof ApiError && error.status === 401
      ? "That token is not a live key (unknown or revoked)."
      : problemText(error), true);
    return false;
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.me = null;
  session.payment = null;
  session.drafts = {};
  stopRefresh();
  $("who").hidden = true;
  $("nav").hidden = true;
  for (const id of ["token", "find-id", "action-reason", "queue-filter"]) $(id).value = "";
  $("list-rows").replaceChildren();
  $("evidence-result").textContent = "";
  show("sign-in");
  say("Signed out.");
}

function isOperator() {
  return session.me && (session.me.role === "operator" || session.me.role === "admin");
}

// ---- views --------------------------------------------------------------------------------

const VIEWS = ["sign-in", "queue", "payments", "payment", "requests", "pictures"];

function show(view) {
  session.view = view;
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  stopRefresh();
  const load = { queue: loadQueue, payments: () => loadList(true), payment: reloadPayment, requests: loadPending, pictures: loadPictures }[view];
  if (load) {
    load();
    if (view !== "payments") session.timer = setInterval(load, REFRESH_MS);
  }
  if (view === "sign-in") $("token").focus();
}

function stopRefresh() {
  if (session.timer) clearInterval(session.timer);
  session.timer = null;
}

// ---- the queue ----------------------------------------------------------------------------

async function loadQueue() {
  try {
    const queue = await api("/v1/operator-queue");
    session.queue = queue.items;
    renderQueue();
    $("queue-refreshed").textContent = `refreshed ${new Date().toLocaleTimeString("en-AU")}`;
  } catch (error) {
    say(problemText(error), true);
  }
}

function renderQueue() {
  const words = $("queue-filter").value.trim().toLowerCase();
  const state = $("queue-state").value;
  const { key, dir } = session.sort;
  const items = session.queue
    .filter((item) => !state || item.state === state)
    .filter((item) => !words || `${item.payment_id} ${item.state} ${item.why}`.toLowerCase().includes(words))
    .sort((a, b) => (a[key] < b[key] ? -dir : a[key] > b[key] ? dir : 0));
  fill($("queue-rows"), items.map((item) => {
    const tr = row([
      paymentLink(item.payment_id),
      { text: item.state, className: "state" },
      { text: money(item.amount), className: "num" },
      { text: ago(item.since) },
      item.webhook_delivery ? `${item.why} (delivery ${item.webhook_delivery})` : item.why,
      item.pending_requests.join(", "),
    ]);
    tr.dataset.payment = item.payment_id;
    return tr;
  }));
  $("queue-empty").hidden = items.length > 0;
}

function sortBy(key) {
  const same = session.sort.key === key;
  session.sort = { key, dir: same ? -session.sort.dir : 1 };
  for (const th of document.querySelectorAll("#queue-table th")) {
    const button = th.querySelector("button");
    if (!button) continue;
    th.setAttribute("aria-sort", button.dataset.sort === key ? (session.sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  renderQueue();
}

// ---- payments list ------------------------------------------------------------------------

async function loadList(fresh) {
  if (fresh) session.cursor = null;
  const state = $("list-state").value;
  const query = new URLSearchParams({ limit: "100" });
  if (state) query.set("state", state);
  if (session.cursor) query.set("after", session.cursor);
  try {
    const page = await api(`/v1/payments?${query}`);
    const rows = page.payments.map((p) => row([paymentLink(p.payment_id), { text: p.state, className: "state" }, { text: money(p.amount), className: "num" }, p.created_at, p.updated_at]));
    if (fresh) fill($("list-rows"), rows);
    else $("list-rows").append(...rows);
    session.cursor = page.next || null;
    $("list-more").hidden = !page.next;
  } catch (error) {
    say(problemText(error), true);
  }
}

// ---- one payment --------------------------------------------------------------------------

function openPayment(id) {
  session.payment = id;
  $("evidence-result").textContent = "";
  $("evidence-link").hidden = true;
  show("payment");
  $("payment-title").focus();
}

async function reloadPayment() {
  const id = session.payment;
  if (!id) return;
  try {
    const story = await api(`/v1/payments/${encodeURIComponent(id)}/timeline`);
    if (session.payment === id) renderPayment(story);
  } catch (error) {
    say(problemText(error), true);
  }
}

function party(p) {
  return `${p.name ? `${p.name}, ` : ""}BSB ${p.bsb} account ${p.account}`;
}

function renderPayment(story) {
  const p = story.payment;
  $("payment-title").textContent = `Payment ${p.payment_id}`;
  const state = el("span", p.state, "state");
  state.id = "payment-state";
  facts($("payment-facts"), [
    ["State", state],
    ["Amount", money(p.amount)],
    ["From", party(p.debtor)],
    ["To", party(p.creditor)],
    ["Remittance", p.remittance_information],
    ["End-to-end id", p.end_to_end_id],
    ["Failure", p.failure_reason],
    ["Version", p.version],
    ["State hash", p.state_hash],
    ["Created", p.created_at],
    ["Updated", p.updated_at],
  ]);
  renderActions(story);
  renderRequests(story.requests, story.decidable);
  fill($("timeline-rows"), story.events.map((e) => row([{ text: e.version, className: "num" }, e.occurred_at, e.type, e.who, e.why || ""])));
  fill($("attempt-rows"), p.attempts.map((a) => row([a.attempt_id, a.opened_at, a.sent_at || "", a.outcome || "open", [a.failure_reason, a.detail, a.settlement_ref].filter(Boolean).join(" · ")])));
  $("rail-facts").replaceChildren(...story.rail.map((f) => el("li", `${f.at} ${f.type}${f.attempt_id ? ` (${f.attempt_id})` : ""}: ${f.detail}`)));
  $("messages").replaceChildren(...story.messages.map(message));
  const f = story.funds;
  facts($("funds"), [
    ["Account", f.account],
    ["Earmarked", money(f.earmarked)],
    ["Settled out", money(f.settled_out)],
    ["Released", money(f.released)],
    ["Outstanding", money(f.outstanding)],
  ]);
}

function message(m) {
  const details = el("details");
  details.className = "message";
  const status = m.status ? `, ${m.status}` : "";
  details.appendChild(el("summary", `${m.direction} ${m.kind} ${m.message_id} at ${m.at}${status}`));
  details.appendChild(el("pre", m.xml ? prettyXml(m.xml) : "(the rail kept no body for this message)"));
  return details;
}

// Indents XML for reading; a document that does not parse is shown as it came.
function prettyXml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length > 0) return text;
  const lines = [];
  const walk = (node, depth) => {
    const pad = "  ".repeat(depth);
    const attrs = Array.from(node.attributes || []).map((a) => ` ${a.name}="${a.value}"`).join("");
    const children = Array.from(node.childNodes).filter((c) => c.nodeType === 1 || (c.nodeType === 3 && c.textContent.trim()));
    if (children.length === 0) {
      lines.push(`${pad}<${node.nodeName}${attrs}/>`);
    } else if (children.length === 1 && children[0].nodeType === 3) {
      lines.push(`${pad}<${node.nodeName}${attrs}>${children[0].textContent.trim()}</${node.nodeName}>`);
    } else {
      lines.push(`${pad}<${node.nodeName}${attrs}>`);
      for (const child of children) {
        if (child.nodeType === 1) walk(child, depth + 1);
        else lines.push(`${pad}  ${child.textContent.trim()}`);
      }
      lines.push(`${pad}</${node.nodeName}>`);
    }
  };
  walk(doc.documentElement, 0);
  return lines.join("\n");
}

const ACTION_LABELS = { retry: "Retry", cancel: "Cancel", "mark-failed": "Mark failed" };

function renderActions(story) {
  // The server lists what this caller may ask for (none for an auditor).
  const allowed = story.allowed_actions;
  const section = $("actions");
  section.hidden = allowed.length === 0;
  const choices = $("action-choices");
  const chosen = choices.querySelector("input:checked");
  const keep = chosen && allowed.includes(chosen.value) ? chosen.value : allowed[0];
  choices.replaceChildren(...allowed.flatMap((name) => {
    const input = el("input");
    input.type = "radio";
    input.name = "action";
    input.value = name;
    input.id = `action-${name}`;
    input.checked = name === keep;
    const label = el("label", ACTION_LABELS[name] || name);
    label.htmlFor = input.id;
    return [input, label];
  }));
}

function renderRequests(requests, decidable) {
  // The page refreshes while a checker types a rejection's reason: keep the text and the focus.
  const focused = document.activeElement ? document.activeElement.id : "";
  fill($("request-rows"), requests.map((r) => {
    const decide = el("span");
    // The server says which requests this caller may decide, by the rules a decision meets.
    const mine = session.me && r.requested_by.toLowerCase() === session.me.name.toLowerCase();
    if (decidable.includes(r.request_id)) {
      const approve = el("button", "Approve", "primary");
      approve.type = "button";
      approve.id = `approve-${r.request_id}`;
      approve.addEventListener("click", () => decideRequest(r.request_id, "approve"));
      const reason = el("input");
      reason.type = "text";
      reason.id = `reject-reason-${r.request_id}`;
      reason.maxLength = 280;
      reason.placeholder = "why reject";
      reason.setAttribute("aria-label", `Why reject ${r.request_id}`);
      reason.value = session.drafts[r.request_id] || "";
      reason.addEventListener("input", () => { session.drafts[r.request_id] = reason.value; });
      const reject = el("button", "Reject", "danger");
      reject.type = "button";
      reject.id = `reject-${r.request_id}`;
      reject.addEventListener("click", () => decideRequest(r.request_id, "reject"));
      decide.append(approve, " ", reason, " ", reject);
    } else if (r.status === "pending" && mine) {
      decide.textContent = "yours: another operator decides";
    }
    const tr = row([r.request_id, r.action, r.requested_by, r.reason, r.status, r.approvals.map((a) => `${a.approved_by} at ${a.approved_at}`).join(", "), decide]);
    tr.dataset.request = r.request_id;
    return tr;
  }));
  if (focused && $(focused)) $(focused).focus();
}

async function requestAction(event) {
  event.preventDefault();
  const chosen = $("action-choices").querySelector("input:checked");
  const reason = $("action-reason").value.trim();
  if (!chosen || !reason) {
    say("Choose an action and give a reason.", true);
    return;
  }
  try {
    const request = await api("/v1/operator-requests", { method: "POST", json: { action: chosen.value, payment_id: session.payment, reason } });
    $("action-reason").value = "";
    say(`Requested ${request.action} as ${request.request_id}; another operator must approve it.`);
    reloadPayment();
  } catch (error) {
    say(problemText(error), true);
  }
}

async function decideRequest(id, decision) {
  let json;
  if (decision === "reject") {
    const reason = (session.drafts[id] || "").trim();
    if (!reason) {
      say(`Give a reason to reject ${id}.`, true);
      $(`reject-reason-${id}`).focus();
      return;
    }
    json = { reason };
  }
  try {
    const result = await api(`/v1/operator-requests/${encodeURIComponent(id)}/${decision}`, { method: "POST", json });
    if (decision === "approve") {
      say(result.executed ? `Approved ${id}; the ${result.request.action} ran.` : `Approved ${id}; more approvals are needed.`);
    } else say(`Rejected ${id}.`);
    delete session.drafts[id];
    if (session.view === "payment") reloadPayment();
    else loadPending();
  } catch (error) {
    say(problemText(error), true);
  }
}

async function evidence() {
  const id = session.payment;
  const result = $("evidence-result");
  result.textContent = "Downloading…";
  result.className = "";
  try {
    const pack = await api(`/v1/payments/${encodeURIComponent(id)}/evidence`, { raw: true });
    const link = $("evidence-link");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([pack], { type: "application/json" }));
    link.download = `evidence-${id}.json`;
    link.hidden = false;
    link.click();
    const verdict = await api("/v1/evidence/verifications", { method: "POST", body: pack, headers: { "Content-Type": "application/json" } });
    result.textContent = verdict.verified
      ? `Verified (${verdict.signature}): ${verdict.summary}`
      : `Not verified${verdict.path ? ` at ${verdict.path}` : ""}: ${verdict.summary}`;
    result.className = verdict.verified ? "ok" : "error";
  } catch (error) {
    result.textContent = problemText(error);
    result.className = "error";
  }
}

// ---- pending requests ---------------------------------------------------------------------

async function loadPending() {
  try {
    const list = await api("/v1/operator-requests?state=pending");
    fill($("pending-rows"), list.requests.map((r) => row([r.request_id, paymentLink(r.payment_id), r.action, r.requested_by, r.reason, r.requested_at])));
    $("pending-empty").hidden = list.requests.length > 0;
  } catch (error) {
    say(problemText(error), true);
  }
}

// ---- pictures -----------------------------------------------------------------------------

async function loadPictures() {
  try {
    const stats = await api("/v1/stats");
    const samples = stats.samples;
    $("pictures-note").textContent = `${samples.length} samples, one every ${stats.interval_ms / 1000} s, since this server started (the last ${stats.max_samples} are kept).`;
    const times = samples.map((s) => Date.parse(s.at));
    chart($("chart-states"), "Payments by state", times, STATES.map((state) => ({ name: state, colour: COLOURS[state], values: samples.map((s) => s.payments[state] || 0) })));
    chart($("chart-latency"), "Intent to settled latency, milliseconds", times, [
      { name: "p50", colour: "#0b4f9c", values: samples.map((s) => (s.settle_p50_ms === undefined ? null : s.settle_p50_ms)) },
      { name: "p99", colour: "#8a1111", values: samples.map((s) => (s.settle_p99_ms === undefined ? null : s.settle_p99_ms)) },
    ]);
    chart($("chart-outbox"), "Outbox messages not yet delivered", times, [{ name: "pending", colour: "#5a2d91", values: samples.map((s) => s.outbox_pending) }]);
  } catch (error) {
    say(problemText(error), true);
  }
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// A line chart of `series` over `times`, with a legend and, for screen readers and anyone who
// would rather read, the same numbers as a table.
function chart(container, title, times, series) {
  const W = 720, H = 220, L = 56, R = 12, T = 12, B = 28;
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = niceCeiling(Math.max(1, ...all));
  const t0 = times.length ? times[0] : 0;
  const t1 = times.length > 1 ? times[times.length - 1] : t0 + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}: ${series.map((s) => `${s.name} latest ${latest(s.values)}`).join(", ")}` });
  root.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  root.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (const v of [0, max / 2, max]) {
    const label = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    label.textContent = v.toLocaleString("en-AU", { maximumFractionDigits: 1 });
    root.appendChild(label);
  }
  if (times.length) {
    for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
      const label = svg("text", { x: x(t), y: H - 8, "text-anchor": anchor });
      label.textContent = new Date(t).toLocaleTimeString("en-AU");
      root.appendChild(label);
    }
  }
  for (const s of series) {
    let d = "";
    s.values.forEach((v, i) => {
      if (v === null) return;
      d += `${d && s.values[i - 1] !== null ? "L" : "M"}${x(times[i]).toFixed(1)},${y(v).toFixed(1)} `;
    });
    if (d) root.appendChild(svg("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }));
    // A value with no neighbour draws no line: a dot shows it.
    s.values.forEach((v, i) => {
      const alone = v !== null && (s.values[i - 1] === undefined || s.values[i - 1] === null) && (s.values[i + 1] === undefined || s.values[i + 1] === null);
      if (alone) root.appendChild(svg("circle", { cx: x(times[i]).toFixed(1), cy: y(v).toFixed(1), r: 3, fill: s.colour }));
    });
  }
  const legend = el("div", null, "legend");
  for (const s of series) {
    const key = el("span", `${s.name}: ${latest(s.values)}`);
    key.style.setProperty("--swatch", s.colour);
    legend.appendChild(key);
  }
  const table = el("details");
  table.appendChild(el("summary", "The numbers"));
  const grid = el("table", null, "grid");
  const head = el("tr");
  head.append(el("th", "Time"), ...series.map((s) => el("th", s.name)));
  grid.appendChild(head);
  times.slice(-20).forEach((t, k) => {
    const i = times.length - Math.min(20, times.length) + k;
    grid.appendChild(row([new Date(t).toLocaleTimeString("en-AU"), ...series.map((s) => (s.values[i] === null ? "—" : s.values[i]))]));
  });
  table.appendChild(grid);
  container.replaceChildren(root, legend, table);
}

// The smallest of 1, 2, 5, 10, 20, 50, ... at or above `value`: an axis people can read.
function niceCeiling(value) {
  let step = 1;
  for (;;) {
    for (const m of [1, 2, 5]) if (step * m >= value) return step * m;
    step *= 10;
  }
}

function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i].toLocaleString("en-AU");
  return "none yet";
}

// ---- start --------------------------------------------------------------------------------

function start() {
  for (const select of [$("queue-state"), $("list-state")]) {
    for (const state of STATES) select.appendChild(new Option(state, state));
  }
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("#nav button")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  for (const button of document.querySelectorAll("#queue-table th button")) {
    button.addEventListener("click", () => sortBy(button.dataset.sort));
  }
  $("queue-filter").addEventListener("input", renderQueue);
  $("queue-state").addEventListener("change", renderQueue);
  $("list-state").addEventListener("change", () => loadList(true));
  $("list-more").addEventListener("click", () => loadList(false));
  $("find-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("find-id").value.trim();
    if (id) openPayment(id);
  });
  $("action-form").addEventListener("submit", requestAction);
  $("evidence").addEventListener("click", evidence);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else show("sign-in");
}

document.addEventListener("DOMContentLoaded", start);
