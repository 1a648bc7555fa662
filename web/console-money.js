// The society console's money pages: an open offer's dashboard and pledges, bank receipts by
// hand (on an offer with match funding confirmed by a second admin) and by statement (previewed
// before it is applied), cancelling, and after the close the close-out, the share register, the
// bank refunds to make and the offer's ledger.

import * as api from "./api.js";
import { chartScale, formatAxisPounds, formatPounds, formatWhen, partPaid, pledgeStatus, parsePounds } from "./format.js";
import { busy, clearErrors, field, h, progressBar, showErrors, summary, svg } from "./ui.js";
import { asSentence, awaitingCountWords, awaitingReceiptWords, importOutcome, receiptRecordedWords, ukDayToIso } from "./console-format.js";
import { enc, link, offerNav, offerOf, page, row, stateWords } from "./console.js";

const cell = (text, num = false) => h("td", { class: num ? "num" : null }, text);
const heads = (...titles) => h("thead", {}, h("tr", {}, titles.map((t) => h("th", { scope: "col" }, t))));
const region = (label, table) => h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" }, table);
const today = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/London" }).format(new Date());

/** Every page of a list endpoint. */
async function all(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const got = await api.get(`${path}${sep}limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`, { auth: true });
    items.push(...got.items);
    cursor = got.next_cursor;
  } while (cursor);
  return items;
}

// ---------------------------------------------------------------------------------------------
// The dashboard of an open offer

export async function dashboard(o) {
  const progress = await api.get(`/offers/${enc(o.id)}/progress`, { auth: true }).catch(() => null);
  const days = progress?.days ?? [];
  return h(
    "section",
    { class: "dashboard", "aria-label": "Dashboard" },
    h("h2", {}, "Dashboard"),
    h("dl", { class: "terms totals" },
      row("Community pledged", formatPounds(o.community_pledged_pence)),
      row("Community paid", formatPounds(o.community_paid_pence)),
      row("Match funding", formatPounds(o.match_pence)),
      row("Total", formatPounds(o.total_pence ?? o.community_pledged_pence + o.match_pence)),
      row("Investors", String(o.investor_count)),
      row("Pledges", String(o.pledge_count ?? "—"))),
    progressBar(o),
    h("h3", {}, "Money over time"),
    progress === null ? h("p", {}, "The figures over time could not be loaded.") : days.length ? [moneyChart(days), dayTable(days)] : h("p", {}, "No pledges yet."),
    h("ul", { class: "links" },
      h("li", {}, link(`#/console/offers/${enc(o.id)}/pledges`, "See every pledge")),
      h("li", {}, link(`#/console/offers/${enc(o.id)}/receipts`, "Record a bank receipt")),
      h("li", {}, link(`#/console/offers/${enc(o.id)}/import`, "Import a bank statement"))),
  );
}

const SERIES = [["community_pledged_pence", "Community pledged", "community"], ["community_paid_pence", "Community paid", "paid"], ["match_pence", "Match", "match"]];

/** Running totals per UK day as lines, an image with a text alternative (the table beside it). */
function moneyChart(given) {
  // One day alone is drawn as lines from nothing, so that it reads as growth.
  const days = given.length === 1 ? [{ date: "", community_pledged_pence: 0, community_paid_pence: 0, match_pence: 0 }, ...given] : given;
  const [width, height, left, right, top, bottom] = [640, 240, 76, 12, 12, 32];
  const scale = chartScale(Math.max(0, ...days.flatMap((d) => SERIES.map(([k]) => d[k]))));
  const x = (i) => left + (days.length === 1 ? (width - left - right) / 2 : (i / (days.length - 1)) * (width - left - right));
  const y = (p) => top + (height - top - bottom) * (1 - p / scale.top);
  const last = days.at(-1);
  const label = `Money over time, ${given[0].date} to ${last.date}: ${formatPounds(last.community_pledged_pence)} pledged, ${formatPounds(last.community_paid_pence)} paid, ${formatPounds(last.match_pence)} match.`;
  const image = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label, class: "chart" });
  for (const t of scale.ticks) {
    image.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(t), y2: y(t) }), svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, formatAxisPounds(t)));
  }
  for (const [key, , cls] of SERIES) {
    const points = days.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(" ");
    image.append(svg("polyline", { class: `line line-${cls}`, points, fill: "none" }));
    days.forEach((d, i) => image.append(svg("circle", { class: `dot line-${cls}`, cx: x(i).toFixed(1), cy: y(d[key]).toFixed(1), r: 3 })));
  }
  const every = Math.ceil(days.length / 6);
  days.forEach((d, i) => i % every === 0 && d.date && image.append(svg("text", { x: x(i), y: height - 10, "text-anchor": "middle" }, d.date.slice(5))));
  const key = (cls, text) => h("li", {}, h("span", { class: `swatch swatch-${cls}`, "aria-hidden": "true" }), text);
  return h("figure", { class: "chart-box" }, image, h("ul", { class: "chart-key", "aria-hidden": "true" }, SERIES.map(([, text, cls]) => key(cls, text))));
}

function dayTable(days) {
  return region("Figures by day", h("table", { class: "days" }, h("caption", {}, "Running totals at the end of each day (UK)"),
    heads("Day", "Pledged", "Paid", "Match", "Pledges"),
    h("tbody", {}, days.map((d) => h("tr", {}, h("th", { scope: "row" }, d.date), cell(formatPounds(d.community_pledged_pence), true), cell(formatPounds(d.community_paid_pence), true), cell(formatPounds(d.match_pence), true), cell(String(d.pledges), true))))));
}

// ---------------------------------------------------------------------------------------------
// Pledges: a status filter, a search by reference or name, cursor paging (all in the address)

const STATUSES = ["pending", "paid", "allocated", "cancelled", "expired", "refunded"];

export async function pledges({ id, status = "", q = "", cursor = "" }, navigate) {
  const o = await offerOf(id);
  const query = new URLSearchParams({ limit: "20" });
  if (STATUSES.includes(status)) query.set("status", status);
  if (q.trim()) query.set("q", q.trim());
  if (cursor) query.set("cursor", cursor);
  const list = await api.get(`/offers/${enc(id)}/pledges?${query}`, { auth: true });
  const base = `/console/offers/${enc(id)}/pledges`;
  const select = h("select", { id: "pledge-status", name: "status" }, h("option", { value: "" }, "Every status"), STATUSES.map((s) => h("option", { value: s, selected: s === status }, pledgeStatus(s))));
  const search = h("input", { id: "pledge-q", name: "q", type: "search", value: q, autocomplete: "off", maxlength: "100" });
  const filter = h("form", { class: "filter", role: "search", "aria-label": "Filter pledges" },
    h("div", { class: "field" }, h("label", { for: select.id }, "Status"), select),
    h("div", { class: "field" }, h("label", { for: search.id }, "Reference or name"), search),
    h("button", { type: "submit" }, "Show"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (select.value) next.set("status", select.value);
    if (search.value.trim()) next.set("q", search.value.trim());
    navigate(`${base}${next.size ? `?${next}` : ""}`);
  });
  const more = new URLSearchParams({ ...(status && { status }), ...(q && { q }) });
  const paging = h("p", { class: "paging" }, cursor ? link(`#${base}${more.size ? `?${more}` : ""}`, "First page") : null, cursor && list.next_cursor ? " · " : null,
    list.next_cursor ? link(`#${base}?${new URLSearchParams({ ...Object.fromEntries(more), cursor: list.next_cursor })}`, "Next page") : null);
  const found = h("p", { role: "status", class: "meta" }, `${list.items.length} ${list.items.length === 1 ? "pledge" : "pledges"} on this page${status || q ? " (filtered)" : ""}.`);
  const waiting = h("p", { class: "notice awaiting-count" });
  const done = h("p", { class: "success", role: "status" });
  countAwaiting(waiting, list.items);
  return page(`Pledges: ${o.title}`, offerNav(o, "/pledges"), filter, found, waiting, done, list.items.length ? pledgeTable(list.items, { offerId: id, done, waiting }) : h("p", {}, "No pledges match."), paging);
}

/** How many receipts typed by hand these pledges have awaiting a second admin. */
const awaitingCount = (items) => items.reduce((sum, p) => sum + (p.awaiting_confirmation?.length ?? 0), 0);

/** The line saying how many receipts on the page await a second admin (hidden for none). */
function countAwaiting(waiting, items) {
  const n = awaitingCount(items);
  waiting.hidden = n === 0;
  waiting.textContent = n ? `${awaitingCountWords(n)}.` : "";
}

/** The pledges, each receipt typed by hand that awaits a second admin with its buttons. */
function pledgeTable(items, { offerId, done, waiting }) {
  const shown = new Map(items.map((p) => [p.id, p]));
  // A receipt confirmed or withdrawn: its pledge's row is drawn again as the API now has it.
  const draw = (p) => {
    const tr = pledgeRow(p, offerId, (answer, words) => {
      const now = { ...shown.get(answer.id), ...answer };
      shown.set(now.id, now);
      const fresh = draw(now);
      tr.replaceWith(fresh);
      countAwaiting(waiting, [...shown.values()]);
      done.textContent = words;
      const th = fresh.querySelector("th");
      th.setAttribute("tabindex", "-1"); // focus stays on the row whose button was pressed
      th.focus();
    });
    return tr;
  };
  return h("table", { class: "pledges console-pledges" }, h("caption", { class: "visually-hidden" }, "Pledges, newest first"),
    heads("Reference", "Investor", "Amount", "Received", "Status", "Pledged (UK time)"),
    h("tbody", {}, items.map(draw)));
}

/** A pledge's row; `decided(answer, words)` runs once one of its awaiting receipts is confirmed or withdrawn. */
function pledgeRow(p, offerId, decided) {
  const reference = p.payment?.bank_reference ?? (p.payment?.method === "card" ? "Card" : "—");
  const waiting = p.awaiting_confirmation ?? [];
  return h("tr", { "data-pledge": p.id },
    h("th", { scope: "row", class: "reference" }, reference),
    cell(p.investor_name ?? "Name not given"),
    cell(`${formatPounds(p.amount_pence)} (${p.shares} shares)`),
    h("td", {}, partPaid(p) || (p.received_pence ? formatPounds(p.received_pence) : "—"),
      waiting.length ? h("ul", { class: "awaiting-receipts" }, waiting.map((r) => awaitingItem(offerId, r, reference, decided))) : null),
    cell([pledgeStatus(p.status), p.refund ? ` (refund ${p.refund.status})` : ""]),
    cell(formatWhen(p.created_at)));
}

/**
 * A receipt typed by hand awaiting a second admin, with "Confirm receipt" and "Withdraw": a
 * refusal (the API's 403, e.g. to the admin who typed it) is said next to the buttons.
 */
function awaitingItem(offerId, r, reference, decided) {
  const which = (words) => h("span", { class: "visually-hidden" }, `${words} ${formatPounds(r.amount_pence)} for ${reference}`);
  const confirm = h("button", { type: "button" }, "Confirm receipt", which(" of"));
  const withdraw = h("button", { type: "button", class: "secondary" }, "Withdraw", which(" the receipt of"));
  const error = h("p", { class: "error", role: "alert" });
  const act = (button, action, words) => button.addEventListener("click", async () => {
    confirm.disabled = withdraw.disabled = true;
    error.textContent = "";
    try {
      const answer = await api.post(`/offers/${enc(offerId)}/bank-receipts/${enc(r.id)}/${action}`, {}, { auth: true });
      decided(answer, words);
    } catch (err) {
      confirm.disabled = withdraw.disabled = false;
      error.textContent = asSentence(err.message);
    }
  });
  act(confirm, "confirm", `Confirmed: ${formatPounds(r.amount_pence)} now counts.`);
  act(withdraw, "withdraw", `Withdrawn. The ${formatPounds(r.amount_pence)} typed for ${reference} never counted.`);
  return h("li", { "data-receipt": r.id }, h("p", {}, awaitingReceiptWords(r)), h("p", { class: "receipt-actions" }, confirm, " ", withdraw), error);
}

// ---------------------------------------------------------------------------------------------
// A bank receipt recorded by hand (a part payment is fine)

export async function receipt({ id }) {
  const o = await offerOf(id);
  const form = h("form", { novalidate: true, class: "receipt-form" }, summary(),
    field({ label: "Payment reference", name: "reference", required: true, autocomplete: "off", hint: "As on the bank statement, like CSK7M29QXT2.", extra: { class: "short" } }),
    field({ label: "Amount received (£)", name: "amount", field: "amount_pence", required: true, inputmode: "decimal", autocomplete: "off", hint: "Less than the pledge is recorded as a part payment.", extra: { class: "short" } }),
    field({ label: "Day received", name: "received_on", field: "received_at", type: "date", required: true, value: today() }),
    h("button", { type: "submit" }, "Record the receipt"));
  const result = h("div", { role: "status", class: "result" });
  let attempt = null; // a retry of the same receipt reuses its Idempotency-Key
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    result.replaceChildren();
    const amount = parsePounds(form.elements.amount.value);
    const received = ukDayToIso(form.elements.received_on.value);
    const errors = [amount.error && { field: "amount_pence", message: amount.error }, !received && { field: "received_at", message: "Enter the day the money arrived" }].filter(Boolean);
    if (errors.length) return showErrors(form, { fieldErrors: errors });
    const body = { reference: form.elements.reference.value.trim().toUpperCase(), amount_pence: amount.pence, received_at: received };
    if (!attempt || JSON.stringify(attempt.body) !== JSON.stringify(body)) attempt = { body, key: api.newKey() };
    try {
      const p = await busy(form, "Recording…", () => api.post(`/offers/${enc(id)}/bank-receipts`, body, { auth: true, headers: { "Idempotency-Key": attempt.key } }));
      result.replaceChildren(h("p", { class: p.receipt?.status === "awaiting_confirmation" ? "notice awaiting" : "success" }, receiptRecordedWords(body, p)));
      form.reset();
      form.elements.received_on.value = today();
      attempt = null;
    } catch (err) {
      showErrors(form, err);
    }
  });
  return page(`Record a bank receipt: ${o.title}`, offerNav(o, "/receipts"), h("p", {}, "For money that reached the society's account by bank transfer."), form, result);
}

// ---------------------------------------------------------------------------------------------
// A bank statement: a dry run first (what would be matched), then applied

const COLUMNS = [["date", "Date column"], ["amount", "Amount column (credits positive)"], ["paid_in", "Paid-in column"], ["paid_out", "Paid-out column"], ["text", "Reference columns (separated by commas)"]];

export async function importStatement({ id }) {
  const o = await offerOf(id);
  const file = h("input", { id: "statement-file", name: "statement", type: "file", accept: ".csv,.ofx,.qfx,.txt,text/csv", required: true, "aria-describedby": "statement-file-hint statement-file-error", "data-field": "statement" });
  const form = h("form", { novalidate: true, class: "import-form" }, summary(),
    h("div", { class: "field", "data-field-wrapper": "statement" }, h("label", { for: file.id }, "Bank statement file"),
      h("p", { class: "hint", id: "statement-file-hint" }, "CSV or OFX as your bank exports it (Starling, Monzo, Barclays, Lloyds, NatWest, HSBC, Nationwide, Co-operative Bank, Metro…)."),
      h("p", { class: "error", id: "statement-file-error", hidden: true }), file),
    h("details", {}, h("summary", {}, "The bank's columns are not recognised?"), COLUMNS.map(([name, label]) => field({ label, name, extra: { class: "short" } }))),
    h("button", { type: "submit" }, "Preview"));
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    preview.replaceChildren();
    const chosen = file.files[0];
    if (!chosen) return showErrors(form, { fieldErrors: [{ field: "statement", message: "Choose the statement file" }] });
    const query = new URLSearchParams();
    for (const [name] of COLUMNS) if (form.elements[name].value.trim()) query.set(name, form.elements[name].value.trim());
    const send = (dry, leaveOut = []) => {
      const q = new URLSearchParams(query);
      if (dry) q.set("dry_run", "true");
      if (leaveOut.length) q.set("leave_out", leaveOut.join(","));
      const type = /\.(ofx|qfx)$/i.test(chosen.name) ? "application/x-ofx" : "text/csv";
      return api.post(`/offers/${enc(id)}/bank-receipts/import?${q}`, chosen, { auth: true, contentType: type });
    };
    try {
      const dry = await busy(form, "Reading the statement…", () => send(true));
      preview.replaceChildren(importReport(dry, true), applyButton(dry, send, preview));
      preview.querySelector("h2").focus();
    } catch (err) {
      showErrors(form, err);
    }
  });
  return page(`Import a bank statement: ${o.title}`, offerNav(o, "/import"), h("p", {}, "Nothing is recorded until you have seen the preview and applied it. A line already imported is never counted twice."), form, preview);
}

/** Whether a previewed line would do anything: not already imported, nor money already recorded by hand. */
const isNew = (r) => r.outcome !== "already_imported" && r.outcome !== "recorded_by_hand";

function applyButton(dry, send, preview) {
  if (!dry.receipts.some(isNew)) return h("p", {}, "There is nothing new to apply.");
  const button = h("button", { type: "button" }, "Apply this statement");
  const error = h("p", { class: "error", role: "alert" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    const leaveOut = [...preview.querySelectorAll("input[name=leave-out]:checked")].map((box) => box.value);
    try {
      const done = await send(false, leaveOut);
      preview.replaceChildren(importReport(done, false));
      preview.querySelector("h2").focus();
    } catch (err) {
      button.disabled = false;
      error.textContent = err.message;
    }
  });
  return h("p", {}, button, error);
}

function importReport(r, dry) {
  const title = dry ? "Preview: what this statement would record" : "Applied: what was recorded";
  const owed = r.receipts.reduce((sum, x) => sum + x.owed_back_pence, 0);
  return h("section", { class: `import-report ${dry ? "dry" : "applied"}` },
    h("h2", { tabindex: "-1" }, title),
    h("p", {}, `${r.layout} statement (${r.encoding}). ${r.matched} ${r.matched === 1 ? "line matches" : "lines match"} a pledge; ${r.already_imported} already imported; ${r.already_recorded_by_hand} already recorded by hand; ${r.unmatched.length} not matched; ${r.skipped.length} skipped.`, owed ? ` ${formatPounds(owed)} is owed back.` : ""),
    r.receipts.length ? region("Matched lines", h("table", { class: "receipts" }, h("caption", {}, dry ? "Lines that pay a pledge (tick a line to leave it out when you apply)" : "Lines that pay a pledge"), heads(...(dry ? ["Leave out"] : []), "Line", "Reference", "Amount", "Outcome", "Why"),
      h("tbody", {}, r.receipts.map((x) => h("tr", { "data-outcome": x.outcome }, ...(dry ? [leaveOutCell(x)] : []), cell(String(x.line)), cell(x.reference), cell(formatPounds(x.amount_pence), true), cell(importOutcome(x.outcome) + (x.owed_back_pence ? `, ${formatPounds(x.owed_back_pence)} owed back` : "")), cell(x.reason)))))) : null,
    r.unmatched.length ? region("Unmatched lines", h("table", { class: "unmatched" }, h("caption", {}, "Credits that match no pledge (check them by hand)"), heads("Line", "Text", "Amount", "Why"),
      h("tbody", {}, r.unmatched.map((x) => h("tr", {}, cell(String(x.line)), cell(x.reference), cell(x.amount_pence == null ? x.amount : formatPounds(x.amount_pence), true), cell(x.reason)))))) : null);
}

/** A previewed line's "leave out" box (none for a line that would do nothing anyway). */
function leaveOutCell(x) {
  if (!isNew(x)) return h("td", {});
  return h("td", {}, h("input", { type: "checkbox", name: "leave-out", value: String(x.line), "aria-label": `Leave out line ${x.line}` }));
}

// ---------------------------------------------------------------------------------------------
// Cancelling, with what happens to the money said first

export async function cancel({ id }, navigate) {
  const o = await offerOf(id);
  if (!["draft", "submitted", "approved", "open"].includes(o.status)) {
    throw Object.assign(new Error(`This offer is ${stateWords(o.status).toLowerCase()}: it can no longer be cancelled.`), { status: 409 });
  }
  const key = api.newKey();
  const yes = h("button", { type: "button", class: "danger" }, "Yes, cancel the offer");
  const error = h("p", { class: "error", role: "alert" });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await api.post(`/offers/${enc(id)}/cancel`, {}, { auth: true, headers: { "Idempotency-Key": key } });
      navigate(`/console/offers/${enc(id)}`, { message: "The offer is cancelled. Refunds are being made." });
    } catch (err) {
      yes.disabled = false;
      error.textContent = err.message;
    }
  });
  const unpaid = o.community_pledged_pence - o.community_paid_pence;
  return page(`Cancel ${o.title}?`, offerNav(o, "/cancel"),
    h("div", { class: "notice" }, h("p", {}, "This cannot be undone. What happens to the money:"),
      h("ul", {},
        h("li", {}, `Pledges not yet paid (${formatPounds(unpaid)}) are cancelled at once; their investors are told.`),
        h("li", {}, `Money already paid (${formatPounds(o.community_paid_pence)}) is refunded in full: card payments through Stripe, bank transfers listed for your treasurer to pay back on the Refunds page.`),
        h("li", {}, `Match funding (${formatPounds(o.match_pence)} so far) goes back to the funds; their commitments are released.`))),
    h("p", {}, yes, " ", link(`#/console/offers/${enc(id)}`, "No, keep it")), error);
}

// ---------------------------------------------------------------------------------------------
// After the close

const STEPS = { succeeded: ["Closed", "Decided: succeeded", "Allocating shares", "Allocated"], failed: ["Closed", "Decided: failed", "Refunding", "Refunded"] };

export async function closeout(o) {
  const c = await api.get(`/offers/${enc(o.id)}/closeout`, { auth: true });
  const path = ["failed", "refunded"].includes(c.status) ? STEPS.failed : STEPS.succeeded;
  const at = { closed: 0, succeeded: 2, failed: 2, allocated: 3, refunded: 3 }[c.status] ?? 0;
  return h("section", { class: "closeout", "aria-label": "Close-out" }, h("h2", {}, "Close-out"),
    h("ol", { class: "steps" }, path.map((s, i) => h("li", { class: i < at ? "done" : i === at ? "now" : "todo", "aria-current": i === at ? "step" : null }, s, i < at || (i === at && at === 3) ? " ✓" : i === at ? " (now)" : ""))),
    c.status === "closed" ? h("p", {}, `Waiting for ${c.waiting_for ?? "the close-out job"}: ${c.pending_pledges} unpaid ${c.pending_pledges === 1 ? "pledge" : "pledges"}${c.disputed_pledges.length ? `, ${c.disputed_pledges.length} disputed` : ""}.`) : null,
    c.status === "allocated" ? h("p", {}, link(`#/console/offers/${enc(o.id)}/register`, "See the share register")) : null,
    h("p", {}, link(`#/console/offers/${enc(o.id)}/refunds`, "Refunds to make"), " · ", link(`#/console/offers/${enc(o.id)}/ledger`, "The offer's ledger")));
}

export async function register({ id }) {
  const o = await offerOf(id);
  const entries = await api.get(`/offers/${enc(id)}/register`, { auth: true });
  const download = h("button", { type: "button" }, "Download the register (CSV)");
  const error = h("p", { class: "error", role: "alert" });
  download.addEventListener("click", async () => {
    error.textContent = "";
    try {
      const text = await api.call("GET", `/offers/${enc(id)}/register?format=csv`, { auth: true, text: true, headers: { Accept: "text/csv, application/problem+json" } });
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const a = h("a", { href: url, download: `register-${o.id}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  const total = entries.reduce((sum, e) => sum + e.shares, 0);
  return page(`Share register: ${o.title}`, offerNav(o, "/register"), h("p", {}, `${entries.length} members, ${total} shares. One vote each.`), h("p", {}, download), error,
    h("table", { class: "pledges register" }, h("caption", { class: "visually-hidden" }, "The share register"), heads("Member", "Kind", "Shares", "Amount", "Votes", "Entered (UK time)", "Address"),
      h("tbody", {}, entries.map((e) => h("tr", {}, h("th", { scope: "row" }, e.name), cell(e.member_kind), cell(String(e.shares), true), cell(formatPounds(e.amount_pence), true), cell(String(e.votes), true), cell(formatWhen(e.entered_at)), cell(e.address ?? "—"))))));
}

export async function refunds({ id }) {
  const o = await offerOf(id);
  const pending = (await all(`/offers/${enc(id)}/refunds?status=pending`)).filter((r) => r.method === "bank_transfer");
  const status = h("p", { class: "success", role: "status" });
  const rows = pending.map((r) => {
    const done = h("button", { type: "button" }, "Mark as paid back", h("span", { class: "visually-hidden" }, ` to ${r.payee_name}`));
    const key = api.newKey();
    const tr = h("tr", { "data-refund": r.id }, h("th", { scope: "row" }, r.payee_name), cell(r.payee_reference ?? "—"), cell(formatPounds(r.amount_pence), true), cell(r.reason), h("td", {}, done));
    done.addEventListener("click", async () => {
      done.disabled = true;
      try {
        await api.post(`/offers/${enc(id)}/refunds/${enc(r.id)}/complete`, {}, { auth: true, headers: { "Idempotency-Key": key } });
        tr.lastChild.replaceChildren("Done");
        status.textContent = `${formatPounds(r.amount_pence)} to ${r.payee_name} is marked as paid back.`;
      } catch (err) {
        done.disabled = false;
        status.textContent = err.message;
      }
    });
    return tr;
  });
  return page(`Refunds to make: ${o.title}`, offerNav(o, "/refunds"), status,
    h("p", {}, "Pay each amount back by bank transfer to the account it came from, quoting the reference, then mark it done. Card refunds are made through Stripe and are not listed."),
    rows.length ? h("table", { class: "pledges refunds" }, h("caption", { class: "visually-hidden" }, "Bank refunds still to make"), heads("Pay to", "Reference", "Amount", "Why", ""), h("tbody", {}, rows)) : h("p", {}, "No bank refunds are waiting."));
}

export async function ledger({ id }) {
  const o = await offerOf(id);
  const transfers = await api.get(`/offers/${enc(id)}/ledger`, { auth: true });
  return page(`Ledger: ${o.title}`, offerNav(o, "/ledger"), h("p", {}, "Every transfer of the offer's escrow account, oldest first."),
    transfers.length ? region("Ledger transfers", h("table", { class: "ledger" }, h("caption", { class: "visually-hidden" }, "Ledger transfers"), heads("When (UK time)", "Kind", "Phase", "State", "Amount", "Cause"),
      h("tbody", {}, transfers.map((t) => h("tr", {}, cell(formatWhen(t.created_at)), cell(t.kind), cell(t.phase), cell(t.state), cell(formatPounds(t.amount_pence), true), cell(t.cause)))))) : h("p", {}, "No money has moved yet."));
}
