// okclink support console (served by `okc serve` at `/`): plain JavaScript, no build step, no
// external URL. Every text from the server goes into the page through textContent (never
// innerHTML). The element ids are fixed by the server contract: the browser test uses them.
"use strict";

// `?token=` is read once; fetches send it as a Bearer token, the event stream as `?token=`.
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const MAX_EVENTS = 200;
let sections = []; // the device's sections (fiscal info), for the test basket's line
let model = null; // "X30TR", "300TR", "cloud" or null
let connected = null; // the fiscal device's last known state
const configured = { fiscal: true, payment: true }; // from /v1/status
const busy = { basket: false, payment: false }; // a test request in flight
let lastEventId = null;
let eventSource = null;

const $ = (id) => document.getElementById(id);

// Builds an element; children are nodes or strings (text nodes: escaped by the browser).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : String(c ?? ""));
  }
  return e;
}

function setText(id, text, cls) {
  const e = $(id);
  e.textContent = text ?? "—";
  if (cls !== undefined) e.className = cls;
}

// Kuruş (minor units) as Turkish lira: 4250 → "42,50 TL".
function money(minor, currency) {
  if (minor === null || minor === undefined || minor === "") return "—";
  const n = Number(minor) / 100;
  return n.toLocaleString("tr-TR", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) +
    " " + (currency && currency !== "TRY" ? currency : "TL");
}

function time(rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  return isNaN(d) ? String(rfc3339) : d.toLocaleString("tr-TR");
}

// --- errors ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    const title = (problem && problem.title) || "HTTP " + status;
    super(problem && problem.detail ? title + ": " + problem.detail : title);
    this.status = status;
    this.code = problem && problem.code;
  }
}

function showError(what, err) {
  $("error-text").textContent = new Date().toLocaleTimeString("tr-TR") + " — " + what + ": " +
    (err && err.message ? err.message : String(err));
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

// --- HTTP -----------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    throw new Error("the server does not answer (" + e.message + ")");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { status: res.status, data };
}

// --- status ---------------------------------------------------------------------------------

async function loadStatus() {
  try {
    const { data: s } = await api("GET", "/v1/status");
    setText("version", s.version ? "v" + s.version : "");
    const f = s.fiscal;
    if (f) {
      setText("fiscal-serial", f.serial || "—");
      setText("fiscal-state", f.connected ? "connected" : "disconnected",
        f.connected ? "ok" : "bad");
      setText("fiscal-model", f.model || "—");
      setText("fiscal-transport", f.transport || "—");
      model = f.model || null;
      // (Re)load the fiscal info when the device (re)connects, and once at start.
      if (f.connected !== connected) {
        connected = f.connected;
        if (connected) loadFiscalInfo();
        else {
          placeholder("sections", 4, "device not connected");
          placeholder("plus", 5, "—");
        }
      }
    } else {
      setText("fiscal-serial", "—");
      setText("fiscal-state", "not configured", "muted");
      placeholder("sections", 4, "no fiscal device configured");
      placeholder("plus", 5, "—");
    }
    configured.fiscal = !!f;
    const p = s.payment;
    if (p) {
      setText("payment-state", p.state || "—", p.state === "ready" ? "ok" :
        p.state === "busy" ? "warn" : "bad");
      setText("payment-transport", p.transport || "—");
    } else {
      setText("payment-state", "not configured", "muted");
      setText("payment-transport", "—");
    }
    configured.payment = !!p;
    updateButtons();
    const j = s.journal;
    setText("journal-state", j ? (j.unfinished ? j.unfinished + " unfinished" : "ok") : "off",
      j && j.unfinished ? "warn" : "");
  } catch (e) {
    showError("status", e);
  }
}

function updateButtons() {
  $("send-test-basket").disabled = busy.basket || !configured.fiscal;
  $("run-test-payment").disabled = busy.payment || !configured.payment;
}

// --- fiscal info ----------------------------------------------------------------------------

function placeholder(tbodyId, cols, text) {
  $(tbodyId).replaceChildren(el("tr", {}, el("td", { colspan: cols, class: "muted" }, text)));
}

async function loadFiscalInfo() {
  let info;
  try {
    ({ data: info } = await api("GET", "/v1/fiscal/info"));
  } catch (e) {
    placeholder("sections", 4, "fiscal info unavailable: " + e.message);
    placeholder("plus", 5, "—");
    return;
  }
  sections = Array.isArray(info && info.sections) ? info.sections : [];
  const plus = Array.isArray(info && info.plus) ? info.plus : [];
  if (sections.length) {
    $("sections").replaceChildren(...sections.map((s) => el("tr", {},
      el("td", {}, s.sectionNo),
      el("td", {}, s.name),
      el("td", { class: "num" }, "%" + (Number(s.taxPercent) / 100).toLocaleString("tr-TR")),
      el("td", {}, s.status === 1 ? "yes" : "no"))));
  } else {
    placeholder("sections", 4, "no sections");
  }
  if (plus.length) {
    $("plus").replaceChildren(...plus.map((p) => el("tr", {},
      el("td", {}, p.pluNo),
      el("td", {}, p.name),
      el("td", {}, p.barcode),
      el("td", { class: "num" }, money(p.price)),
      el("td", {}, p.sectionNo))));
  } else {
    placeholder("plus", 5, "no PLUs");
  }
}

// --- receipts -------------------------------------------------------------------------------

const SALE_STATUS = { 0: "completed", "-1": "cancelled", 99: "voided" };

async function loadReceipts() {
  try {
    const { data } = await api("GET", "/v1/fiscal/receipts?limit=20");
    const rows = (data && data.receipts) || [];
    if (!rows.length) {
      placeholder("receipts", 6, "no receipts in the journal yet");
      return;
    }
    $("receipts").replaceChildren(...rows.map((r) => {
      const st = r.status;
      const label = st in SALE_STATUS ? st + " " + SALE_STATUS[st] : st;
      return el("tr", { "data-basket-id": r.basketID },
        el("td", {}, time(r.at)),
        el("td", { class: "id" }, r.basketID ?? "—"),
        el("td", {}, r.receiptNo ?? "—"),
        el("td", {}, r.zNo ?? "—"),
        el("td", { class: "num" }, money(r.total)),
        el("td", { class: st === 0 ? "ok" : "warn" }, label ?? "—"));
    }));
  } catch (e) {
    showError("receipts", e);
  }
}

// --- test basket ----------------------------------------------------------------------------

function freshId(prefix) {
  const t = new Date().toISOString().replace(/[-:TZ.]/g, "").slice(0, 14); // UTC yyyymmddhhmmss
  const r = new Uint8Array(4);
  crypto.getRandomValues(r);
  return prefix + "-" + t + "-" + Array.from(r, (b) => b.toString(16).padStart(2, "0")).join("");
}

const TEST_PAYMENT = { amount: 100, description: "Nakit", type: 1 };

function testBasket() {
  // The first active section of the device (fiscal info), else section 1 at %20.
  const s = sections.find((x) => x.status === 1) || { sectionNo: 1, taxPercent: 2000 };
  const basket = {
    basketID: freshId("console"),
    documentType: 9008,
    items: [{ name: "TEST ÜRÜNÜ", price: 100, quantity: 1000, sectionNo: s.sectionNo,
      taxPercent: s.taxPercent, type: 0 }],
  };
  // The X30TR takes the payment inside the basket; the 300TR refuses that (docs/BASKETS.md):
  // there the payment follows on its own (POST /v1/fiscal/payments).
  if (model !== "300TR") basket.paymentItems = [TEST_PAYMENT];
  return basket;
}

// The basket, waiting up to 15 s for its receipt; on a 300TR the basket alone, then the cash
// payment (which completes the sale: its answer is the basket once the receipt arrived).
async function sellTestBasket(basket) {
  if (model !== "300TR") return api("POST", "/v1/fiscal/baskets?wait=15", basket);
  await api("POST", "/v1/fiscal/baskets", basket);
  return api("POST", "/v1/fiscal/payments?wait=15", TEST_PAYMENT);
}

async function sendTestBasket() {
  busy.basket = true;
  updateButtons();
  const basket = testBasket();
  setText("basket-result", "sending " + basket.basketID + " …", "result");
  try {
    const { status, data } = await sellTestBasket(basket);
    // A 300TR payment answered without the receipt: the device's reply ({basketID, reply}).
    const state = (data && data.state) || (data && data.reply ? "sent" : "?");
    const sale = data && data.saleInfo;
    let text = basket.basketID + ": " + state;
    if (sale && sale.receiptNo !== undefined) text += ", receipt " + sale.receiptNo;
    if (sale && sale.message && sale.message !== "OK") text += " — " + sale.message;
    if ((status === 202 || (data && data.reply)) && !sale) text += " (no receipt yet)";
    setText("basket-result", text, "result " + (sale && sale.status === 0 ? "ok" : "warn"));
    $("basket-result").dataset.basketId = basket.basketID;
    await loadReceipts();
  } catch (e) {
    setText("basket-result", basket.basketID + ": failed", "result bad");
    showError("test basket", e);
  } finally {
    busy.basket = false;
    updateButtons();
  }
}

// --- test payment ---------------------------------------------------------------------------

async function runTestPayment() {
  const out = $("payment-result");
  busy.payment = true;
  updateButtons();
  const reference = freshId("console"); // 31 characters: a nexo reference takes at most 32
  out.removeAttribute("data-approved");
  out.className = "result";
  out.replaceChildren("paying 1,00 TL (" + reference + ") …");
  try {
    const { data: r } = await api("POST", "/v1/payment/sales",
      { amount: 100, currency: "TRY", reference });
    const lines = [
      el("strong", {}, r.approved ? "APPROVED" : "DECLINED"),
      " " + money(r.amount, r.currency),
    ];
    if (r.brand || r.maskedPan) lines.push(" — " + [r.brand, r.maskedPan].filter(Boolean).join(" "));
    if (r.approvalCode) lines.push(" — approval " + r.approvalCode);
    if (!r.approved && r.reason) lines.push(" — " + r.reason);
    lines.push(el("br"), el("span", { class: "muted id" }, r.reference || reference));
    const receipt = r.receipts && r.receipts.merchant;
    if (Array.isArray(receipt) && receipt.length) {
      lines.push(el("details", {}, el("summary", {}, "merchant receipt"),
        el("pre", {}, receipt.join("\n"))));
    }
    out.replaceChildren(...lines);
    out.dataset.approved = r.approved ? "true" : "false";
    out.className = "result " + (r.approved ? "ok" : "bad");
  } catch (e) {
    out.replaceChildren("payment failed: " + e.message);
    out.dataset.approved = "false";
    out.className = "result bad";
    showError("test payment", e);
  } finally {
    busy.payment = false;
    updateButtons();
    loadStatus();
  }
}

// --- live events ----------------------------------------------------------------------------

const EVENT_TYPES = ["device-state", "sale-info", "basket-state", "terminal", "payment-result",
  "energy-order"];

const EVENT_TEXT_MAX = 300;

// One line per event: the JSON without the terminal's raw message, cut at EVENT_TEXT_MAX
// characters (the whole text in the tooltip).
function addEvent(type, ev) {
  if (ev.lastEventId) lastEventId = ev.lastEventId;
  let text = ev.data;
  try {
    text = JSON.stringify(JSON.parse(ev.data), (k, v) => (k === "raw" ? undefined : v));
  } catch (e) {
    // not JSON: shown as it came
  }
  const short = text.length > EVENT_TEXT_MAX ? text.slice(0, EVENT_TEXT_MAX) + " …" : text;
  const li = el("li", { "data-event": type, "data-id": ev.lastEventId || null },
    el("span", { class: "muted" }, new Date().toLocaleTimeString("tr-TR")),
    " ",
    el("span", { class: "badge" }, type),
    " ",
    el("code", { title: short === text ? null : ev.data }, short));
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function connectEvents() {
  const q = new URLSearchParams();
  if (TOKEN) q.set("token", TOKEN);
  if (lastEventId) q.set("lastEventId", lastEventId); // a new EventSource after a hard failure
  const url = "/events" + (q.toString() ? "?" + q : "");
  const es = new EventSource(url);
  eventSource = es;
  es.onopen = () => setText("events-state", "live", "badge ok");
  // The browser reconnects by itself (sending Last-Event-ID); only a refused stream (HTTP
  // error) closes it for good: then a new one after a pause.
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      setText("events-state", "disconnected", "badge bad");
      if (eventSource === es) setTimeout(connectEvents, 5000);
    } else {
      setText("events-state", "reconnecting…", "badge warn");
    }
  };
  es.onmessage = (ev) => addEvent("message", ev);
  for (const type of EVENT_TYPES) {
    es.addEventListener(type, (ev) => {
      addEvent(type, ev);
      if (type === "sale-info" || type === "basket-state") loadReceipts();
      if (type === "device-state") loadStatus();
      if (type === "payment-result" || type === "terminal") loadStatus();
    });
  }
}

// --- start ----------------------------------------------------------------------------------

function start() {
  $("error-close").addEventListener("click", clearError);
  $("send-test-basket").addEventListener("click", sendTestBasket);
  $("run-test-payment").addEventListener("click", runTestPayment);
  $("refresh-receipts").addEventListener("click", loadReceipts);
  $("refresh-info").addEventListener("click", loadFiscalInfo);
  connectEvents();
  loadStatus();
  loadReceipts();
  setInterval(loadStatus, 10000);
}

// The script is inserted by the page itself (with the token): the document may be parsed by now.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
