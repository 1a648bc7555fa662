// The platform console: platform admins approve submitted offers, close open ones early, register
// funders and their admins, check the ledger and retry emails that failed every attempt. Loaded
// by app.js with import() only for #/platform addresses; every page checks the caller is a
// platform admin first (the API refuses the rest anyway).

import * as api from "./api.js";
import { formatDateTime, formatPounds, formatRate, formatWhen, invitationSentWords, safeUrl } from "./format.js";
import { busy, clearErrors, dropFlashOnAction, field, h, progressBar, showErrors, summary } from "./ui.js";
import { approvalWords, closeWords, emailKind, progressWords, verdictWords } from "./platform-format.js";

const enc = encodeURIComponent;
const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
const hidden = (text) => h("span", { class: "visually-hidden" }, text);
// A wide table scrolls inside its own box (keyboard too) instead of the page; phones stack it.
const region = (label, table) => h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" }, table);
const page = (title, ...children) => ({ title, body: dropFlashOnAction(h("div", { class: "console platform" }, h("h1", { tabindex: "-1" }, title), ...children)) });
const KINDS = { co_operative: "Co-operative society", community_benefit_society: "Community benefit society" };

const SECTIONS = [["", "Awaiting approval"], ["/open", "Open offers"], ["/funders", "Funders"], ["/ledger", "Ledger"], ["/emails", "Failed emails"]];

const ROUTES = [
  [/^$/, approvals],
  [/^open$/, openOffers],
  [/^funders$/, funders],
  [/^ledger$/, ledger],
  [/^emails$/, emails],
];

/** The platform console's router: `rest` is the address after `/platform/`. */
export async function view(params, navigate) {
  const me = await api.get("/me", { auth: true });
  if (!me.roles?.includes("platform_admin")) {
    throw Object.assign(new Error("Only platform admins may use the platform console"), { status: 403 });
  }
  const rest = (params.rest ?? "").replace(/\/$/, "");
  for (const [pattern, fn] of ROUTES) {
    if (pattern.test(rest)) return fn(params, navigate);
  }
  throw Object.assign(new Error("There is no such page in the platform console."), { status: 404 });
}

/** The links between the console's pages, the current one marked. */
function subnav(here) {
  return h("nav", { class: "subnav", "aria-label": "Platform console" },
    h("ul", {}, SECTIONS.map(([path, text]) => h("li", {}, link(`#/platform${path}`, text, path === here ? { "aria-current": "page" } : {})))));
}

/** "First page" and "Next page" links for a cursor-paged list whose cursor is in the address. */
function paging(path, cursor, next) {
  if (!cursor && !next) return null;
  return h("p", { class: "paging" },
    cursor ? link(`#${path}`, "First page") : null,
    cursor && next ? " · " : null,
    next ? link(`#${path}?cursor=${enc(next)}`, "Next page") : null);
}

const listQuery = (cursor, extra = {}) => new URLSearchParams({ ...extra, limit: "20", ...(cursor ? { cursor } : {}) });

function sentence(text) {
  const t = String(text ?? "").trim();
  return t ? t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".") : "";
}

/**
 * A button that asks first: pressing it shows what will happen (focus moves to the question)
 * with a button to go ahead and one to step back. `act` runs on going ahead; what the API says
 * when it refuses (a 409: the offer changed, its closing time passed) is shown in place.
 */
function confirmStep({ label, question, words, yes, working, failed, danger = false, act }) {
  const cls = danger ? "danger" : null;
  const start = h("button", { type: "button", class: cls }, ...label);
  const heading = h("h3", { tabindex: "-1" }, question);
  const go = h("button", { type: "button", class: cls }, yes);
  const back = h("button", { type: "button", class: "secondary" }, "Not now");
  const error = h("div", { class: "summary", role: "alert", tabindex: "-1", hidden: true });
  const box = h("div", { class: `confirm-step${danger ? " danger" : ""}`, hidden: true }, heading, words.map((w) => h("p", {}, w)), error, h("p", {}, go, " ", back));
  start.addEventListener("click", () => {
    start.hidden = true;
    box.hidden = false;
    heading.focus();
  });
  back.addEventListener("click", () => {
    box.hidden = true;
    error.hidden = true;
    start.hidden = false;
    start.focus();
  });
  go.addEventListener("click", async () => {
    go.disabled = back.disabled = true;
    go.textContent = working;
    error.hidden = true;
    try {
      await act();
    } catch (err) {
      error.replaceChildren(h("h4", {}, failed), h("p", {}, sentence(err.message)));
      error.hidden = false;
      error.focus();
    } finally {
      go.disabled = back.disabled = false;
      go.textContent = yes;
    }
  });
  return h("div", { class: "actions" }, start, box);
}

// ---------------------------------------------------------------------------------------------
// Offers awaiting approval

async function approvals({ cursor = "" }, navigate) {
  const list = await api.get(`/admin/offers?${listQuery(cursor, { status: "submitted" })}`, { auth: true });
  return page("Offers awaiting approval", subnav(""),
    h("p", {}, "Societies have submitted these offers. Check each one's terms and its society before you approve it. Newest first."),
    list.items.length
      ? h("ul", { class: "offer-list" }, list.items.map((item) => submitted(item, navigate)))
      : h("p", { class: "empty" }, "No offers are waiting for approval."),
    paging("/platform", cursor, list.next_cursor));
}

function submitted({ offer: o, society: s }, navigate) {
  const approve = confirmStep({
    label: ["Approve", hidden(` ${o.title}`)],
    question: `Approve ${o.title}?`,
    words: [approvalWords(o)],
    yes: "Yes, approve it",
    working: "Approving…",
    failed: "It could not be approved",
    act: async () => {
      const done = await api.post(`/offers/${enc(o.id)}/approve`, {}, { auth: true });
      const opens = new Date(done.opens_at).getTime() > Date.now()
        ? `The scheduler opens it at ${formatDateTime(done.opens_at)}; until then it is listed under Open offers, approved and opening soon.`
        : "The scheduler opens it now.";
      navigate("/platform", { message: `Approved: ${done.title}. ${opens}` });
    },
  });
  return h("li", { class: "card platform-offer", "data-offer": o.id },
    h("h2", {}, o.title),
    h("p", { class: "society" }, `From ${s.name}`),
    h("p", {}, o.summary),
    o.below_community_shares_minimum
      ? h("p", { class: "notice below-minimum" }, `Its minimum target, ${formatPounds(o.min_target_pence)}, is below £10,000: the usual minimum for a community shares society to be viable. Check the society can go ahead on so little.`)
      : null,
    h("h3", {}, "Terms"),
    terms(o),
    h("h3", {}, "The society"),
    h("dl", { class: "terms society-facts" },
      row("Name", s.name),
      row("Kind", KINDS[s.kind] ?? s.kind),
      row("FCA registration number", s.registration_number),
      row("Postcode of the registered office", s.postcode),
      row("Bank details", s.has_bank_details ? "Set" : "Not set")),
    approve);
}

function terms(o) {
  const e = o.eligibility ?? {};
  const url = o.document_url ? safeUrl(o.document_url) : null;
  return h("dl", { class: "terms offer-terms" },
    row("Share price", formatPounds(o.share_price_pence)),
    row("Minimum / target / maximum", `${formatPounds(o.min_target_pence)} / ${formatPounds(o.target_pence)} / ${formatPounds(o.max_target_pence)}`),
    row("Holding per investor", `${formatPounds(o.min_holding_pence)} to ${formatPounds(o.max_holding_pence)}`),
    row("Opens", formatDateTime(o.opens_at)),
    row("Closes", formatDateTime(o.closes_at)),
    row("Cooling-off", `${o.cooling_off_days} ${o.cooling_off_days === 1 ? "day" : "days"}`),
    row("Target interest", `${formatRate(o.interest_rate_bps)} a year`),
    row("Offer document", url ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, "Read the offer document", hidden(` of ${o.title} (opens in a new tab)`)) : o.document_url ? `Not a web address: ${o.document_url}` : "Not linked"),
    row("Local areas", e.postcode_prefixes?.length ? e.postcode_prefixes.join(", ") : "Anywhere in the UK"),
    e.min_age ? row("Minimum age", String(e.min_age)) : null);
}

// ---------------------------------------------------------------------------------------------
// Open offers

async function openOffers({ cursor = "" }, navigate) {
  const [list, approved] = await Promise.all([
    api.get(`/admin/offers?${listQuery(cursor, { status: "open" })}`, { auth: true }),
    api.get("/admin/offers?status=approved&limit=100", { auth: true }),
  ]);
  return page("Open offers", subnav("/open"),
    h("p", {}, "Offers taking pledges now, newest first, then those approved that open soon. Close one early only when it must stop taking pledges before its closing time."),
    list.items.length
      ? h("ul", { class: "offer-list" }, list.items.map((item) => open(item, navigate)))
      : h("p", { class: "empty" }, "No offers are open."),
    paging("/platform/open", cursor, list.next_cursor),
    opening(approved));
}

/** Approved offers not open yet, the soonest to open first: the scheduler opens each at its opening time. */
function opening(approved) {
  const items = [...approved.items].sort((a, b) => Date.parse(a.offer.opens_at) - Date.parse(b.offer.opens_at));
  return h("section", { class: "opening-soon", "aria-labelledby": "opening-soon" },
    h("h2", { id: "opening-soon" }, "Approved, opening soon"),
    h("p", {}, "The scheduler opens each of these to investors at its opening time. Until then only its society's admins and platform admins can see it, and its society can still cancel it."),
    items.length
      ? h("ul", { class: "offer-list" }, items.map(({ offer: o, society: s }) => h("li", { class: "card platform-offer", "data-offer": o.id },
        h("h3", {}, o.title),
        h("p", { class: "society" }, `From ${s.name} (${s.registration_number})`),
        h("dl", { class: "terms" },
          row("Opens", formatDateTime(o.opens_at)),
          row("Closes", formatDateTime(o.closes_at)),
          row("Minimum / target / maximum", `${formatPounds(o.min_target_pence)} / ${formatPounds(o.target_pence)} / ${formatPounds(o.max_target_pence)}`)))))
      : h("p", { class: "empty" }, "No approved offer is waiting to open."),
    approved.next_cursor ? h("p", { class: "meta" }, `These are the ${items.length} approved most recently; more are waiting to open.`) : null);
}

function open({ offer: o, society: s }, navigate) {
  const close = confirmStep({
    label: ["Close early", hidden(`: ${o.title}`)],
    question: `Close ${o.title} now?`,
    words: closeWords(o),
    yes: "Yes, close it now",
    working: "Closing…",
    failed: "It could not be closed",
    danger: true,
    act: async () => {
      const done = await api.post(`/offers/${enc(o.id)}/close`, {}, { auth: true });
      navigate("/platform/open", { message: `${done.title} is closed: it takes no more pledges. The close-out decides it against its minimum target next.` });
    },
  });
  return h("li", { class: "card platform-offer", "data-offer": o.id },
    h("h2", {}, o.title),
    h("p", { class: "society" }, `From ${s.name} (${s.registration_number})`),
    progressBar(o),
    h("p", { class: "meta progress-words" }, progressWords(o)),
    h("dl", { class: "terms" },
      row("Paid so far", formatPounds(o.community_paid_pence)),
      row("Pledges", String(o.pledge_count)),
      row("Closes", formatDateTime(o.closes_at))),
    h("p", {}, link(`#/offers/${enc(o.id)}`, ["Its public page", hidden(` (${o.title})`)])),
    close);
}

// ---------------------------------------------------------------------------------------------
// Funders and their admins

async function funders({ cursor = "", funder: chosen = "" }, navigate) {
  const list = await api.get(`/funders?${listQuery(cursor)}`, { auth: true });
  const here = (id, message) => navigate(`/platform/funders?funder=${enc(id)}`, { message });
  return page("Funders", subnav("/funders"),
    h("p", {}, "Funders (councils, lottery funds, programmes) run match funds. Register one, then invite its first two admins: each becomes an admin once they accept, and they create its funds in the funder console."),
    list.items.length ? funderTable(list.items) : h("p", { class: "empty" }, "No funders yet."),
    paging("/platform/funders", cursor, list.next_cursor),
    h("h2", {}, "Register a funder"),
    funderForm(here),
    h("h2", {}, "Add an admin to a funder"),
    list.items.length ? adminForm(list.items, chosen, here) : h("p", {}, "Register a funder first."));
}

function funderTable(items) {
  const cell = (label, content, cls) => h("td", { "data-label": label, class: cls }, content);
  return region("Funders", h("table", { class: "stacked platform-funders" },
    h("caption", { class: "visually-hidden" }, "Funders, newest first, with their admins"),
    h("thead", {}, h("tr", {}, ["Funder", "Admins", "Funds", "Registered (UK time)"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((f) => h("tr", { "data-funder": f.id },
      h("th", { scope: "row" }, f.name),
      cell("Admins", f.admins.length ? h("ul", { class: "admins" }, f.admins.map((a) => h("li", {}, `${a.display_name} (${a.email})`))) : "None yet"),
      cell("Funds", String(f.fund_count), "num"),
      cell("Registered", formatWhen(f.created_at)))))));
}

function funderForm(here) {
  const form = h("form", { novalidate: true, class: "funder-form", "aria-label": "Register a funder" },
    summary(),
    field({ label: "Funder's name", name: "name", required: true, autocomplete: "organization", hint: "As people know it, like Stroud District Council." }),
    h("button", { type: "submit" }, "Register the funder"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      // Sent as typed (trimmed): the API says what a name must be.
      const f = await busy(form, "Registering…", () => api.post("/funders", { name: form.elements.name.value.trim() }, { auth: true }));
      here(f.id, `${f.name} is registered. Next: add its first admin.`);
    } catch (err) {
      showErrors(form, err);
    }
  });
  return form;
}

function adminForm(items, chosen, here) {
  const id = "platform-admin-funder";
  const select = h("select", { id, name: "funder", "data-field": "funder", "aria-describedby": `${id}-error` },
    items.map((f) => h("option", { value: f.id, selected: f.id === chosen }, f.name)));
  const form = h("form", { novalidate: true, class: "admin-form", "aria-label": "Add an admin to a funder" },
    summary(),
    h("div", { class: "field", "data-field-wrapper": "funder" }, h("label", { for: id }, "Funder"), h("p", { class: "error", id: `${id}-error`, hidden: true }), select),
    field({ label: "Email of the person to add as an admin", name: "email", type: "email", required: true, autocomplete: "off", hint: "They need an account here first, and become an admin once they accept. Platform admins add a funder's first two admins (never themselves); after that its admins invite others." }),
    h("button", { type: "submit" }, "Add admin"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const funder = items.find((f) => f.id === select.value);
    const email = form.elements.email.value.trim();
    try {
      // 202: an invitation, which they accept on their page (or which waits for a second admin).
      const sent = await busy(form, "Adding…", () => api.post(`/funders/${enc(funder.id)}/admins`, { email }, { auth: true }));
      here(funder.id, invitationSentWords(sent?.status, email));
    } catch (err) {
      // "Already an admin" (409) is about the email typed: it belongs under that field; a 403
      // (naming yourself, a funder with two admins already) says why in the summary.
      showErrors(form, err.status === 409 ? { fieldErrors: [{ field: "email", message: err.message }] } : err);
    }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// The ledger check

function ledger() {
  const run = h("button", { type: "button" }, "Run verify");
  const result = h("div", { class: "verdict-box" });
  run.addEventListener("click", async () => {
    run.disabled = true;
    run.textContent = "Checking…";
    result.setAttribute("aria-busy", "true");
    try {
      result.replaceChildren(verdict(await api.get("/admin/ledger/verify", { auth: true })));
    } catch (err) {
      result.replaceChildren(h("div", { class: "summary", role: "alert" }, h("h2", { tabindex: "-1" }, "The check could not run"), h("p", {}, sentence(err.message))));
    } finally {
      result.removeAttribute("aria-busy");
      run.disabled = false;
      run.textContent = "Run verify";
    }
    result.querySelector("h2")?.focus();
  });
  return page("Ledger", subnav("/ledger"),
    h("p", {}, "Recomputes every account's balance from its transfers and checks the ledger's rules: debits equal credits, no account pays out more than it holds, and each offer's totals agree with its pledges, its escrow, its match funding and its share register. It also compares card payments with what the payment provider last said. It writes nothing."),
    h("p", {}, run), result);
}

function verdict(v) {
  const { headline, detail } = verdictWords(v);
  const list = (title, items, cls) => (items.length ? [h("h3", {}, title), h("ul", { class: cls }, items.map((p) => h("li", {}, p)))] : null);
  return h("section", { class: `verdict ${v.balanced ? "verdict-ok" : "verdict-bad"}`, "aria-label": "The verdict" },
    h("h2", { tabindex: "-1" }, headline),
    h("p", {}, `${sentence(detail)} Checked at ${formatDateTime(new Date().toISOString())}.`),
    list("Problems", v.problems ?? [], "problems"),
    list("Card payments to look at", v.payment_disagreements ?? [], "disagreements"));
}

// ---------------------------------------------------------------------------------------------
// Emails that failed every attempt

async function emails({ cursor = "" }) {
  const list = await api.get(`/admin/outbox?${listQuery(cursor, { status: "dead" })}`, { auth: true });
  const status = h("p", { class: "success", role: "status" });
  return page("Failed emails", subnav("/emails"),
    h("p", {}, "Emails the platform tried to send every time it may and could not. Check the error (a mistyped address, the mail server down), then retry: the email goes back in the queue and is sent again within a minute."),
    status,
    list.items.length ? emailTable(list.items, status) : h("p", { class: "empty" }, "No email has failed: none is waiting for a retry."),
    paging("/platform/emails", cursor, list.next_cursor));
}

function emailTable(items, status) {
  const cell = (label, content, cls) => h("td", { "data-label": label, class: cls }, content);
  return region("Failed emails", h("table", { class: "stacked platform-emails" },
    h("caption", { class: "visually-hidden" }, "Failed emails, newest first"),
    h("thead", {}, h("tr", {}, ["Recipient", "Subject", "Kind", "Attempts", "Last error", "Created (UK time)", "State"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((e) => {
      const state = cell("State", retryButton(e, status), "state");
      return h("tr", { "data-email": e.id },
        h("th", { scope: "row", class: "recipient" }, e.recipient),
        cell("Subject", e.subject),
        cell("Kind", emailKind(e.kind)),
        cell("Attempts", String(e.attempts), "num"),
        cell("Last error", e.last_error ?? "None recorded", "last-error"),
        cell("Created", formatWhen(e.created_at)),
        state);
    }))));
}

function retryButton(e, status) {
  const button = h("button", { type: "button" }, "Retry", hidden(` the email to ${e.recipient}: ${e.subject}`));
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "";
    const cell = button.parentElement;
    try {
      await api.post(`/admin/outbox/${enc(e.id)}/retry`, {}, { auth: true });
      const done = h("span", { class: "queued", tabindex: "-1" }, "Queued again");
      cell.replaceChildren(done);
      done.focus(); // the button is gone: focus stays on its row
      status.textContent = `The email to ${e.recipient} is queued again: it is sent within a minute.`;
    } catch (err) {
      button.disabled = false;
      status.textContent = `The email to ${e.recipient} was not retried: ${sentence(err.message)}`;
    }
  });
  return button;
}
