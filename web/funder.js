// The funder console: a funder's admins invite others (two people agree to each), see who its
// admins are and its audit trail, create funds with a rule builder (restated in plain words as
// they type), set when an approval needs a second admin, and work through each fund's
// applications: simulate the match, approve (or reject), and confirm or decline another admin's
// approval. Loaded by app.js with import() only for #/funder addresses.

import * as api from "./api.js";
import { chartScale, formatAxisPounds, formatDateTime, formatPounds, formatWhen, offerStatus, poundsInput } from "./format.js";
import { adminForm, busy, clearErrors, dropFlashOnAction, field, h, showErrors, summary, svg } from "./ui.js";
import {
  adminWords, applicationStatus, confirmationWords, draftWords, fundBody, fundWords, invitationStatusWords, needsSecondAdmin, poundsOrNull, ruleWords,
  simulationWords,
} from "./funder-format.js";

const enc = encodeURIComponent;
const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
const page = (title, ...children) => ({ title, body: dropFlashOnAction(h("div", { class: "console funder" }, h("h1", { tabindex: "-1" }, title), ...children)) });

const ROUTES = [
  [/^$/, home],
  [/^([^/]+)\/funds\/new$/, newFund],
  [/^funds\/([^/]+)$/, fundPage],
  [/^([^/]+)$/, home], // one funder's part of the home (an accepted invitation links here)
];

/** The funder console's router: `rest` is the address after `/funder/`. */
export async function view(params, navigate) {
  const rest = (params.rest ?? "").replace(/\/$/, "");
  for (const [pattern, fn] of ROUTES) {
    const m = pattern.exec(rest);
    if (m) return fn({ ...params, id: m[1] }, navigate);
  }
  throw Object.assign(new Error("There is no such page in the funder console."), { status: 404 });
}

/** A random (version 4) UUID, also outside secure contexts: one per attempt to approve. */
export function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * An API error on a form, in the console's words (`percent_of_target … basis points` → a
 * percentage); an error naming a list entry (`rule.eligibility.postcode_prefixes[0]`) belongs
 * to the list's input.
 */
function show(form, err) {
  const fieldErrors = (err.fieldErrors ?? []).map((e) => ({ field: String(e.field).replace(/\[\d+\]$/, ""), message: fundWords(e.message) }));
  showErrors(form, { fieldErrors, message: fundWords(err.message) });
}

function forbidden() {
  return Object.assign(new Error("Only a funder's admins may use the funder console"), { status: 403 });
}

// ---------------------------------------------------------------------------------------------
// The funder's funds

/**
 * The console's home: each funder the caller administers (only `id`'s, at `#/funder/ID`) with
 * its funds, its admins and open invitations, a form to invite another, and its audit trail.
 */
async function home({ id: only }) {
  const me = await api.get("/me", { auth: true });
  if (!me.funders.length || (only && !me.funders.includes(only))) throw forbidden();
  const ids = only ? [only] : me.funders;
  const funds = (await api.get("/funds")).filter((f) => ids.includes(f.funder_id));
  const sections = await Promise.all(ids.map(async (funderId) => funderSection(funderId, await funderName(funderId, funds), funds.filter((f) => f.funder_id === funderId))));
  const out = page("Funder console", ...sections);
  if (only && me.funders.length > 1) out.body.append(h("p", {}, link("#/funder", "All the funders you run")));
  return out;
}

/** One funder on the home: a notice while it cannot approve, its funds, its admins, its audit trail. */
async function funderSection(funderId, name, mine) {
  const [people, audit] = await Promise.all([
    api.get(`/funders/${enc(funderId)}/admins`, { auth: true }).catch(() => null),
    api.get(`/funders/${enc(funderId)}/audit`, { auth: true }).catch(() => null),
  ]);
  const admins = adminsSection(funderId, people);
  return h("section", { class: "funder-home", "data-funder": funderId, "aria-labelledby": `funder-${funderId}` },
    h("h2", { id: `funder-${funderId}` }, name ?? "Your funder (no funds yet)"),
    needsSecondAdmin(people?.admins) ? h("p", { class: "notice second-admin-needed" }, "Approving needs a second admin of this funder. Invite one below.") : null,
    mine.length
      ? h("ul", { class: "links" }, mine.map((f) => h("li", {}, link(`#/funder/funds/${enc(f.id)}`, f.name), ` – ${formatPounds(f.available_pence)} available of ${formatPounds(f.budget_pence)}. `, h("span", { class: "meta" }, f.rule_text))))
      : h("p", {}, "No funds yet."),
    h("p", {}, link(`#/funder/${enc(funderId)}/funds/new`, "Create a fund", { class: "button" })),
    admins.section,
    addAdmin(funderId, admins.redraw),
    auditSection(funderId, audit));
}

/**
 * A funder's name: from its funds, else from its public impact page (which names a funder with
 * no funds too); null when neither answers.
 */
async function funderName(funderId, funds) {
  const fund = funds.find((f) => f.funder_id === funderId);
  if (fund) return fund.funder_name;
  return api.get(`/funders/${enc(funderId)}/impact`).then((v) => v.funder.name, () => null);
}

/** Inviting a co-admin (an existing account, by email): the one who confirms another's approval. */
function addAdmin(funderId, added) {
  const headingId = `add-admin-${funderId}`;
  const { form, done } = adminForm({
    add: (email) => api.post(`/funders/${enc(funderId)}/admins`, { email }, { auth: true }),
    added,
    hint: "They need an account here first. Adding an admin takes two people: another admin of this funder (or a platform admin, while it has fewer than two) must add the same email to agree; then they accept. A new admin may confirm another's approval only if they were an admin before it was asked for, and not within 7 days of joining if the admin who asked invited them.",
    attrs: { "aria-labelledby": headingId },
  });
  return h("section", { class: "add-admin", "aria-labelledby": headingId }, h("h3", { id: headingId }, "Add an admin to this funder"), form, done);
}

// ---------------------------------------------------------------------------------------------
// A funder's admins and its audit trail

/** The "Admins" section (`people`: `GET /funders/{id}/admins`, or null) and a way to redraw it after an invitation. */
function adminsSection(funderId, people) {
  const headingId = `admins-${funderId}`;
  const body = h("div", { class: "admins-body" });
  const fill = (fresh) => body.replaceChildren(...[adminsBody(fresh)].flat(Infinity));
  const redraw = () => api.get(`/funders/${enc(funderId)}/admins`, { auth: true }).then(fill, () => {});
  fill(people);
  const section = h("section", { class: "funder-admins", "aria-labelledby": headingId }, h("h3", { id: headingId }, "Admins"), body);
  return { section, redraw };
}

function adminsBody(people) {
  if (!people) return h("p", {}, "The admins could not be loaded. Reload to try again.");
  const invitations = people.invitations ?? [];
  return [
    h("ul", { class: "admins" }, people.admins.map((a) => h("li", { "data-user": a.user_id }, h("strong", {}, a.display_name), ` (${a.email}), ${adminWords(a)}`))),
    invitations.length
      ? [h("h4", {}, "Open invitations"), h("ul", { class: "open-invitations" }, invitations.map((i) => h("li", { "data-invitation": i.id, "data-status": i.status }, h("strong", {}, i.display_name), ` (${i.email}): ${invitationStatusWords(i)}`)))]
      : h("p", { class: "meta" }, "No open invitations."),
  ];
}

/** The "Audit trail" section (`first`: its newest page, or null): who did what, newest first, older entries a page at a time. */
function auditSection(funderId, first) {
  const headingId = `audit-${funderId}`;
  const section = h("section", { class: "funder-audit", "aria-labelledby": headingId }, h("h3", { id: headingId }, "Audit trail"));
  if (!first) return append(section, h("p", {}, "The audit trail could not be loaded. Reload to try again."));
  if (!first.items.length) return append(section, h("p", {}, "Nothing recorded yet."));
  const rows = h("tbody", {}, first.items.map(auditRow));
  const table = h("table", { class: "audit funder-audit-table" },
    h("caption", { class: "visually-hidden" }, "What the funder's admins did, newest first"),
    h("thead", {}, h("tr", {}, ["When (UK time)", "Who", "What", "Request id"].map((t) => h("th", { scope: "col" }, t)))),
    rows);
  return append(section, h("div", { class: "table-wrap", role: "region", "aria-label": "Audit trail entries", tabindex: "0" }, table), olderButton(funderId, first.next_cursor, rows));
}

const append = (el, ...children) => (el.append(...children), el);

const auditRow = (e) => h("tr", { "data-action": e.action },
  h("td", {}, formatWhen(e.at)),
  h("td", {}, e.actor_name ?? "The platform (automatic)"),
  h("td", {}, e.detail),
  h("td", {}, e.request_id ? h("small", {}, h("code", { class: "request-id" }, e.request_id)) : "—"));

/** "Show older": the next page of the audit trail under the rows shown; gone at the oldest. */
function olderButton(funderId, cursor, rows) {
  const button = h("button", { type: "button", class: "secondary" }, "Show older");
  const box = h("p", { hidden: !cursor }, button);
  let next = cursor;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const more = await api.get(`/funders/${enc(funderId)}/audit?cursor=${enc(next)}`, { auth: true });
      rows.append(...more.items.map(auditRow));
      next = more.next_cursor ?? null;
      box.hidden = !next;
    } catch (err) {
      box.append(h("span", { class: "error", role: "alert" }, ` ${err.message}`));
    } finally {
      button.disabled = false;
    }
  });
  return box;
}

// ---------------------------------------------------------------------------------------------
// A new fund: the rule builder

function select({ label, name, field: apiField, options, hint }) {
  const id = `fund-${name}`;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const error = h("p", { class: "error", id: `${id}-error`, hidden: true });
  const el = h("select", { id, name, "data-field": apiField, "aria-describedby": [hintEl && hintEl.id, error.id].filter(Boolean).join(" ") },
    options.map(([value, text]) => h("option", { value }, text)));
  return h("div", { class: "field", "data-field-wrapper": apiField }, h("label", { for: id }, label), hintEl, error, el);
}

async function newFund({ id: funderId }, navigate) {
  const me = await api.get("/me", { auth: true });
  if (!me.funders.includes(funderId)) throw forbidden();
  const exclusiveId = "fund-exclusive";
  const form = h(
    "form",
    { novalidate: true, class: "fund-form", "aria-label": "The fund and its rule" },
    summary(),
    field({ label: "Fund name", name: "name", required: true }),
    field({ label: "Budget in pounds", name: "budget", field: "budget_pence", required: true, inputmode: "decimal", hint: "All the fund may commit, e.g. 10000.", extra: { class: "short" } }),
    h("fieldset", {}, h("legend", {}, "The rule"),
      select({ label: "Kind of match", name: "kind", field: "rule.kind", options: [["per_pledge", "A share of each pledge"], ["lump_sum", "A lump sum per offer"]] }),
      h("div", { class: "ratio" },
        field({ label: "Match: pounds the fund gives", name: "ratio_num", field: "rule.ratio_num", required: true, value: "1", inputmode: "numeric", hint: "1 to 100.", extra: { class: "short" } }),
        field({ label: "For every: pounds pledged", name: "ratio_den", field: "rule.ratio_den", required: true, value: "1", inputmode: "numeric", hint: "1 to 100. 1 and 1 is £1 for every £1; 1 and 2 is 50p for every £1.", extra: { class: "short" } })),
      h("div", { class: "lump", hidden: true },
        field({ label: "Lump sum in pounds", name: "lump_sum", field: "rule.lump_sum_pence", required: true, inputmode: "decimal", extra: { class: "short" } })),
      field({ label: "Cap per investor in pounds", name: "per_pledge_cap", field: "rule.per_pledge_cap_pence", inputmode: "decimal", hint: "The most one investor's pledges are matched in one offer.", extra: { class: "short" } }),
      field({ label: "Cap per offer in pounds", name: "per_offer_cap", field: "rule.per_offer_cap_pence", required: true, inputmode: "decimal", hint: "The most the fund commits to one offer.", extra: { class: "short" } }),
      select({ label: "Match starts", name: "trigger_kind", field: "rule.trigger.kind", options: [["none", "At once"], ["amount", "Once an amount is pledged"], ["percent_of_target", "Once a share of the target is pledged"], ["min_target", "Once the offer's minimum target is pledged"]] }),
      h("div", { class: "trigger-value", hidden: true },
        field({ label: "Amount in pounds, or percent of the target", name: "trigger_value", field: "rule.trigger.value", required: true, inputmode: "decimal", extra: { class: "short" } })),
      field({ label: "And at least this many investors", name: "min_investors", field: "rule.trigger.min_investors", inputmode: "numeric", extra: { class: "short" } }),
      field({ label: "Keep it local: postcode areas", name: "postcode_prefixes", field: "rule.eligibility.postcode_prefixes", hint: "Areas, districts or sectors separated by commas, like GL5, GL6 1. Empty: anywhere." }),
      h("div", { class: "field checkbox", "data-field-wrapper": "rule.exclusive" },
        h("p", { class: "error", id: `${exclusiveId}-error`, hidden: true }),
        h("div", { class: "check" }, h("input", { id: exclusiveId, name: "exclusive", type: "checkbox", "data-field": "rule.exclusive", "aria-describedby": `${exclusiveId}-error` }),
          h("label", { for: exclusiveId }, "No other fund may match the same offer"))),
      select({ label: "When the match is decided", name: "timing", field: "rule.timing", options: [["live", "As pledges arrive"], ["at_close", "When the offer closes"]] })),
    h("div", { class: "rules-box" }, h("h2", {}, "The rule in words"), h("p", { class: "rule-words", "aria-live": "polite" })),
    h("button", { type: "submit" }, "Create the fund"),
  );
  const words = form.querySelector(".rule-words");
  const values = () => {
    const e = form.elements;
    const v = {};
    for (const n of ["name", "budget", "kind", "ratio_num", "ratio_den", "lump_sum", "per_pledge_cap", "per_offer_cap", "trigger_kind", "trigger_value", "min_investors", "postcode_prefixes", "timing"]) v[n] = e[n].value;
    v.exclusive = e.exclusive.checked;
    return v;
  };
  const update = () => {
    const v = values();
    form.querySelector(".ratio").hidden = v.kind !== "per_pledge";
    form.querySelector(".lump").hidden = v.kind !== "lump_sum";
    const tv = form.querySelector(".trigger-value");
    tv.hidden = v.trigger_kind !== "amount" && v.trigger_kind !== "percent_of_target";
    tv.querySelector("label").textContent = v.trigger_kind === "amount" ? "Amount pledged, in pounds" : "Percent of the target";
    words.textContent = draftWords(v);
  };
  form.addEventListener("input", (event) => {
    // A message from the last attempt goes once its field is changed.
    const input = event.target;
    if (input.getAttribute?.("aria-invalid")) {
      input.removeAttribute("aria-invalid");
      const error = form.querySelector(`#${CSS.escape(input.id)}-error`);
      if (error) {
        error.hidden = true;
        error.textContent = "";
      }
    }
    update();
  });
  form.addEventListener("change", update);
  update();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const { body, problems } = fundBody(values());
    if (!body.name) problems.unshift({ field: "name", message: "Enter a name for the fund" });
    if (body.budget_pence === null) problems.push({ field: "budget_pence", message: "Enter the budget in pounds" });
    if (body.rule.per_offer_cap_pence === null) problems.push({ field: "rule.per_offer_cap_pence", message: "Enter the most the fund commits to one offer" });
    if (problems.length) return showErrors(form, { fieldErrors: problems });
    try {
      const fund = await busy(form, "Creating…", () => api.post(`/funders/${enc(funderId)}/funds`, body, { auth: true, headers: { "Idempotency-Key": uuid() } }));
      navigate(`/funder/funds/${enc(fund.id)}`, { message: `${fund.name} is created. Every approval needs a second admin of the funder until two of its admins agree to change that below.` });
    } catch (err) {
      show(form, err);
    }
  });
  return page("Create a fund", h("p", {}, "Say how the fund matches what investors pledge. The rule in words below is what societies and the public will read."), form);
}

// ---------------------------------------------------------------------------------------------
// A fund: its money, its second approval, its applications

async function fundPage({ id }, navigate) {
  const me = await api.get("/me", { auth: true });
  const fund = await api.get(`/funds/${enc(id)}`, { auth: true });
  if (!me.funders.includes(fund.funder_id)) throw forbidden();
  const people = await api.get(`/funders/${enc(fund.funder_id)}/admins`, { auth: true }).catch(() => null);
  const again = (message) => navigate(`/funder/funds/${enc(id)}`, { message });
  const threshold = fund.second_approval_threshold_pence;
  const out = page(
    fund.name,
    h("p", {}, link("#/funder", "All your funds"), " · ", link(`#/funds/${enc(id)}`, "Its public page")),
    needsSecondAdmin(people?.admins)
      ? h("p", { class: "notice second-admin-needed" }, "Approving needs a second admin of this funder. ", link(`#/funder/${enc(fund.funder_id)}`, "Invite one"), ".")
      : null,
    h("p", { class: "lead" }, ruleWords(fund.rule)),
    h("h2", {}, "Money"),
    h("dl", { class: "terms fund-money" },
      row("Budget", formatPounds(fund.budget_pence)),
      row("Committed", formatPounds(fund.committed_pence)),
      row("Awaiting confirmation", formatPounds(fund.awaiting_confirmation_pence)),
      row("Matched", formatPounds(fund.matched_pence)),
      row("Released", formatPounds(fund.released_pence)),
      row("Available", formatPounds(fund.available_pence)),
      row("Second approval", thresholdWords(threshold)),
      fund.second_approval_change ? row("Asked to relax", changeWords(fund.second_approval_change)) : null,
      row("Offers backed", String(fund.offers.filter((o) => o.application_status === "approved").length))),
    h("h2", {}, "Second approval"),
    thresholdForm(fund, again),
    h("h2", {}, "Applications"),
  );
  const list = h("div", { class: "applications" });
  out.body.append(list);
  const more = h("button", { type: "button", class: "secondary" }, "Show more applications");
  const moreBox = h("p", { hidden: true }, more);
  out.body.append(moreBox);
  let cursor = null;
  const load = async () => {
    const q = cursor ? `?limit=20&cursor=${enc(cursor)}` : "?limit=20";
    const pageOf = await api.get(`/funds/${enc(id)}/applications${q}`, { auth: true });
    const cards = await Promise.all(pageOf.items.map((app) => application(fund, app, me, again)));
    list.append(...cards);
    cursor = pageOf.next_cursor ?? null;
    moreBox.hidden = !cursor;
    if (!list.children.length) list.append(h("p", {}, "No applications yet."));
  };
  more.addEventListener("click", () => load().catch((err) => more.replaceWith(h("p", { class: "error", role: "alert" }, err.message))));
  await load();
  return out;
}

function thresholdWords(t) {
  if (t === null || t === undefined) return "Not needed: one admin's approval commits the money";
  if (t === 0) return "Every approval needs a second admin";
  return `Approvals of ${formatPounds(t)} or more need a second admin`;
}

/** A relaxation of the threshold one admin asked for, waiting for a second. */
function changeWords(change) {
  return `${thresholdWords(change.threshold_pence)}, asked at ${formatDateTime(change.requested_at)}: it changes when a second admin asks for the same`;
}

function thresholdForm(fund, again) {
  const t = fund.second_approval_threshold_pence;
  const form = h(
    "form",
    { novalidate: true, class: "threshold-form", "aria-label": "Second approval" },
    summary(),
    field({ label: "Approvals of at least this many pounds need a second admin", name: "threshold", field: "threshold_pence", inputmode: "decimal", value: t === null || t === undefined ? "" : poundsInput(t),
      hint: "0: every approval; empty: none (one admin's approval commits the money). Lowering it or setting one takes effect at once; raising or removing it needs a second admin to ask for the same.", extra: { class: "short" } }),
    h("button", { type: "submit" }, "Save the second approval"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const pence = poundsOrNull(form.elements.threshold.value);
    if (Number.isNaN(pence)) return showErrors(form, { fieldErrors: [{ field: "threshold_pence", message: "Enter an amount in pounds, like 0 or 5000, or leave it empty" }] });
    try {
      const saved = await busy(form, "Saving…", () => api.put(`/funds/${enc(fund.id)}/second-approval`, { threshold_pence: pence }, { auth: true }));
      // Relaxing the rule waits (202) for another admin to ask for the same.
      again(saved?.second_approval_change
        ? `Asked: ${thresholdWords(pence).toLowerCase()}. Relaxing the rule takes two people too: it changes when another of the funder's admins asks for the same here. Until then: ${thresholdWords(saved.second_approval_threshold_pence).toLowerCase()}.`
        : `Saved. ${thresholdWords(pence)}.`);
    } catch (err) {
      show(form, err);
    }
  });
  return form;
}

const KINDS = { co_operative: "co-operative society", community_benefit_society: "community benefit society" };

/** One application: its offer (terms and progress) and society, its state, and what an admin may do with it now. */
async function application(fund, app, me, again) {
  const { offer, society } = app;
  const headingId = `app-${app.id}`;
  const card = h("section", { class: "card application", "aria-labelledby": headingId, "data-application": app.id },
    h("h3", { id: headingId }, offer.title),
    h("dl", { class: "terms" },
      row("Status", applicationStatus(app)),
      row("Society", `${society.name}, a ${KINDS[society.kind] ?? society.kind} (FCA number ${society.registration_number}), ${society.postcode}`),
      row("Offer", `${offerStatus(offer.status)}; ${formatPounds(offer.share_price_pence)} shares; minimum ${formatPounds(offer.min_target_pence)}, target ${formatPounds(offer.target_pence)}, maximum ${formatPounds(offer.max_target_pence)}`),
      row("Open", `${formatDateTime(offer.opens_at)} to ${formatDateTime(offer.closes_at)}`),
      row("Progress", `${formatPounds(offer.community_pledged_pence)} pledged by ${offer.investor_count} ${offer.investor_count === 1 ? "investor" : "investors"}; ${formatPounds(offer.match_pence)} matched`),
      row("Applied", formatDateTime(app.created_at)),
      app.status !== "pending" ? row("Commitment", formatPounds(app.commitment_pence)) : null,
      app.status !== "pending" ? row("Matched so far", formatPounds(app.match_pence)) : null,
      app.reason ? row("Reason", app.reason) : null));
  const c = app.confirmation;
  if (c) {
    const cls = { awaiting: "notice awaiting", declined: "notice declined" }[c.state] ?? `meta ${c.state}`;
    card.append(h("p", { class: `confirmation-words ${cls}` }, confirmationWords(c, me.id)));
  }
  if (c?.state === "awaiting" && c.requested_by === me.id) card.append(h("p", { class: "hint" }, "You asked for this approval, so another of the funder's admins must confirm or decline it."));
  if (c?.state === "awaiting") card.append(confirmForms(fund, app, again));
  else if (app.status === "pending") card.append(decisionForms(fund, app, offer, again));
  return card;
}

function confirmForms(fund, app, again) {
  const base = `/funds/${enc(fund.id)}/applications/${enc(app.id)}`;
  const confirm = h("form", { novalidate: true, class: "confirm-form", "aria-label": "Confirm the approval" }, summary(),
    h("button", { type: "submit" }, "Confirm the approval"));
  confirm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(confirm);
    try {
      await busy(confirm, "Confirming…", () => api.post(`${base}/confirm`, {}, { auth: true }));
      again(`Confirmed: ${formatPounds(app.confirmation.commitment_pence)} is committed to the offer.`);
    } catch (err) {
      showErrors(confirm, err);
    }
  });
  const decline = h("form", { novalidate: true, class: "decline-form", "aria-label": "Decline the approval" }, summary(),
    field({ label: "Why decline", name: "reason", field: "reason", required: true }),
    h("button", { type: "submit", class: "danger" }, "Decline the approval"));
  decline.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(decline);
    try {
      await busy(decline, "Declining…", () => api.post(`${base}/decline`, { reason: decline.elements.reason.value.trim() }, { auth: true }));
      again("Declined: the money held for it is available again.");
    } catch (err) {
      showErrors(decline, err);
    }
  });
  return h("div", { class: "decisions" }, confirm, decline);
}

function decisionForms(fund, app, offer, again) {
  const base = `/funds/${enc(fund.id)}/applications/${enc(app.id)}`;
  const cap = fund.rule.per_offer_cap_pence;
  const room = Math.min(cap, fund.available_pence);
  const result = h("div", { class: "simulation", "aria-live": "polite" });
  const approve = h("form", { novalidate: true, class: "approve-form", "aria-label": "Approve" }, summary(),
    field({ label: "Commitment in pounds", name: "commitment", field: "commitment_pence", required: true, inputmode: "decimal", value: poundsInput(room),
      hint: `The rule's cap per offer is ${formatPounds(cap)}; the fund has ${formatPounds(fund.available_pence)} available.`, extra: { class: "short" } }),
    h("p", {}, h("button", { type: "button", class: "secondary simulate" }, "Simulate the match"), " ", h("button", { type: "submit" }, "Approve")));
  const commitment = () => poundsOrNull(approve.elements.commitment.value);
  approve.querySelector(".simulate").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    clearErrors(approve);
    const pence = commitment();
    if (Number.isNaN(pence)) return showErrors(approve, { fieldErrors: [{ field: "commitment_pence", message: "Enter an amount in pounds" }] });
    button.disabled = true;
    try {
      const sim = await api.post(`/funds/${enc(fund.id)}/simulate`, { offer_id: app.offer_id, commitment_pence: pence }, { auth: true });
      result.replaceChildren(...simulation(sim, offer));
    } catch (err) {
      show(approve, err);
    } finally {
      button.disabled = false;
    }
  });
  approve.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(approve);
    const pence = commitment();
    if (pence === null || Number.isNaN(pence)) return showErrors(approve, { fieldErrors: [{ field: "commitment_pence", message: "Enter the commitment in pounds" }] });
    try {
      // A new key for each attempt: a retry of the same click is answered once.
      const done = await busy(approve, "Approving…", () => api.post(`${base}/approve`, { commitment_pence: pence }, { auth: true, headers: { "Idempotency-Key": uuid() } }));
      const awaiting = done?.confirmation?.state === "awaiting" || done?.status === "pending";
      again(awaiting ? `Awaiting confirmation by another admin: ${formatPounds(pence)} is held for the offer until then.` : `Approved: ${formatPounds(pence)} is committed to the offer.`);
    } catch (err) {
      show(approve, err);
      // "Approving needs a second admin of this funder" (or "… add one first"): the way to invite one.
      if (err.status === 409 && /add one first|needs a second admin/i.test(err.message)) approve.querySelector(".summary").append(h("p", {}, link(`#/funder/${enc(fund.funder_id)}`, "Invite a second admin to this funder")));
    }
  });
  const reject = h("form", { novalidate: true, class: "reject-form", "aria-label": "Reject" }, summary(),
    field({ label: "Why reject", name: "reason", field: "reason", required: true, hint: "The society sees this." }),
    h("button", { type: "submit", class: "danger" }, "Reject"));
  reject.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(reject);
    try {
      await busy(reject, "Rejecting…", () => api.post(`${base}/reject`, { reason: reject.elements.reason.value.trim() }, { auth: true }));
      again("Rejected. The society is told why.");
    } catch (err) {
      showErrors(reject, err);
    }
  });
  return h("div", { class: "decisions" }, approve, result, h("details", {}, h("summary", {}, "Reject this application"), reject));
}

let charts = 0;

/**
 * A simulation's figures (commitment, budget, cap per investor, trigger), a bar chart of the
 * match per pledge in order with the cap per investor and the point the trigger is met drawn as
 * lines, and the same as a table.
 */
function simulation(sim, offer) {
  const pledges = sim.per_pledge;
  const words = simulationWords(sim);
  const out = [
    h("p", { class: "sim-total" }, words.summary),
    h("dl", { class: "terms sim-figures" },
      row("Commitment", formatPounds(sim.commitment_pence)),
      row("Budget for these pledges", [formatPounds(sim.budget_pence), h("span", { class: "meta" }, " (the commitment, within the cap per offer and the room left under the offer's maximum)")]),
      row("Cap per investor", words.cap),
      row("Trigger", words.trigger)),
  ];
  if (sim.trigger_met_after === null || sim.trigger_met_after === undefined) {
    out.push(h("p", { class: "notice trigger-not-met" }, "The trigger is not met yet: the current pledges do not meet the rule's trigger, so nothing is matched until they do."));
  }
  if (!pledges.length) {
    out.push(h("p", {}, offer ? "The offer has no pledges yet: nothing to match." : "No pledges to match yet."));
    return out;
  }
  const table = h("table", { class: "sim-table" }, h("caption", {}, "Match per pledge"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Pledge"), h("th", { scope: "col", class: "num" }, "Pledged"), h("th", { scope: "col", class: "num" }, "Match"))),
    h("tbody", {}, pledges.map((p, i) => h("tr", {}, h("th", { scope: "row" }, String(i + 1)), h("td", { class: "num" }, formatPounds(p.amount_pence)), h("td", { class: "num" }, formatPounds(p.match_pence))))));
  out.push(h("figure", { class: "chart-box" }, simulationChart(sim, words.desc)), h("div", { class: "table-wrap", role: "region", "aria-label": "Match per pledge", tabindex: "0" }, table));
  return out;
}

/** The match per pledge as bars, a dashed line at the cap per investor, a dotted one where the trigger is met. */
function simulationChart(sim, desc) {
  const pledges = sim.per_pledge;
  const cap = sim.per_investor_cap_pence ?? null;
  const after = sim.trigger_met_after ?? null;
  // The top margin holds the trigger's label.
  const [height, left, right, top, bottom] = [236, 76, 8, 28, 30];
  const width = Math.min(640, left + right + Math.max(4, pledges.length) * 48);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  // The cap is on the scale even above every bar: how far below it the bars stay is the point.
  const scale = chartScale(Math.max(1, cap ?? 0, ...pledges.map((p) => p.match_pence)));
  const y = (pence) => top + plotH - (pence / scale.top) * plotH;
  const n = ++charts;
  const image = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": `sim-title-${n} sim-desc-${n}`, class: "chart sim-chart" },
    svg("title", { id: `sim-title-${n}` }, "Match per pledge, in the order pledged"),
    svg("desc", { id: `sim-desc-${n}` }, desc));
  for (const tick of scale.ticks) {
    image.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }),
      svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, formatAxisPounds(tick)));
  }
  const slot = plotW / pledges.length;
  const bar = Math.min(30, slot * 0.6);
  pledges.forEach((p, i) => {
    const middle = left + slot * i + slot / 2;
    image.append(svg("rect", { class: "match", x: middle - bar / 2, y: y(p.match_pence), width: bar, height: Math.max(0, top + plotH - y(p.match_pence)) }));
    if (pledges.length <= 16 || i % Math.ceil(pledges.length / 16) === 0) image.append(svg("text", { x: middle, y: height - bottom + 18, "text-anchor": "middle" }, String(i + 1)));
  });
  image.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  if (cap !== null) {
    // Its label sits above the line, or below it when the line is at the top of the plot.
    const at = y(cap);
    const labelY = at - 6 >= top + 12 ? at - 6 : at + 16;
    image.append(svg("line", { class: "cap-line", x1: left, x2: width - right, y1: at, y2: at }),
      svg("text", { class: "chart-label cap-label", x: width - right - 4, y: labelY, "text-anchor": "end" }, `cap per investor ${formatAxisPounds(cap)}`));
  }
  if (after !== null) {
    // Between bar `after` and the next; at the very start when the trigger holds from the outset.
    const x = Math.max(left + 2, left + slot * after);
    const leftHalf = x < left + plotW / 2;
    image.append(svg("line", { class: "trigger-line", x1: x, x2: x, y1: top - 10, y2: top + plotH }),
      svg("text", { class: "chart-label trigger-label", x: leftHalf ? x + 5 : x - 5, y: top - 12, "text-anchor": leftHalf ? "start" : "end" }, "trigger met"));
  }
  return image;
}
