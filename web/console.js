// The society console: a society's admins register it, set its bank details and co-admins, draft
// and submit offers, apply for match funding, and run an offer to its close. Loaded by app.js with
// import() only for console addresses (and in the background for society admins).

import * as api from "./api.js";
import { formatDateTime, formatPounds, formatRate, formatSortCode, formatWhen, offerStatus, parsePounds, poundsInput } from "./format.js";
import { adminForm, busy, clearErrors, dropFlashOnAction, field, h, showErrors, summary } from "./ui.js";
import { offerRules, offerWords, parseAccountNumber, parsePercent, parsePrefixes, parseSortCode, parseUkDateTime, parseWhole, ukText, ukToIso } from "./console-format.js";
import * as money from "./console-money.js";

const enc = encodeURIComponent;
const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
const page = (title, ...children) => ({ title, body: dropFlashOnAction(h("div", { class: "console" }, h("h1", { tabindex: "-1" }, title), ...children)) });
const DEFAULT_MIN_AGE = 16; // the API's default (EligibilityRequest.min_age)
const upper = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const KINDS = { co_operative: "Co-operative society", community_benefit_society: "Community benefit society" };
/** An offer's state in words (format.js's, shared with the funder console). */
export const stateWords = offerStatus;

const ROUTES = [
  [/^$/, home],
  [/^societies\/new$/, newSociety],
  [/^societies\/([^/]+)$/, society],
  [/^societies\/([^/]+)\/offers\/new$/, (p, go) => offerForm({ society: p.id }, go)],
  [/^offers\/([^/]+)$/, overview],
  [/^offers\/([^/]+)\/edit$/, (p, go) => offerForm({ offer: p.id }, go)],
  [/^offers\/([^/]+)\/funds$/, funds],
  [/^offers\/([^/]+)\/pledges$/, money.pledges],
  [/^offers\/([^/]+)\/receipts$/, money.receipt],
  [/^offers\/([^/]+)\/import$/, money.importStatement],
  [/^offers\/([^/]+)\/cancel$/, money.cancel],
  [/^offers\/([^/]+)\/register$/, money.register],
  [/^offers\/([^/]+)\/refunds$/, money.refunds],
  [/^offers\/([^/]+)\/ledger$/, money.ledger],
];

/** The console's router: `rest` is the address after `/console/`. */
export async function view(params, navigate) {
  const rest = (params.rest ?? "").replace(/\/$/, "");
  for (const [pattern, fn] of ROUTES) {
    const m = pattern.exec(rest);
    if (m) return fn({ ...params, id: m[1] }, navigate);
  }
  throw Object.assign(new Error("There is no such page in the society console."), { status: 404 });
}

/** An offer the caller runs, and its society (the console's pages start from these). */
export async function offerOf(id) {
  const offer = await api.get(`/offers/${enc(id)}`, { auth: true });
  return offer;
}

/** The links between an offer's console pages, by what its state allows. */
export function offerNav(offer, here) {
  const base = `#/console/offers/${enc(offer.id)}`;
  const s = offer.status;
  const live = ["open", "closed", "succeeded", "allocated", "failed", "refunded", "cancelled"].includes(s);
  const items = [
    ["", "Overview", true],
    ["/pledges", "Pledges", live],
    ["/receipts", "Record a receipt", s === "open" || s === "closed"],
    ["/import", "Import a statement", s === "open" || s === "closed"],
    ["/funds", "Match funding", !live || s === "open"],
    ["/register", "Share register", s === "allocated"],
    ["/refunds", "Refunds", live],
    ["/ledger", "Ledger", true],
  ];
  return h(
    "nav",
    { class: "subnav", "aria-label": "This offer" },
    h("p", { class: "society" }, link(`#/console/societies/${enc(offer.society_id)}`, "Society"), " › ", offer.title, ` (${stateWords(s)})`),
    h("ul", {}, items.filter(([, , on]) => on).map(([path, text]) => h("li", {}, link(`${base}${path}`, text, path === here ? { "aria-current": "page" } : {})))),
  );
}

// ---------------------------------------------------------------------------------------------
// Societies

async function home() {
  const me = await api.get("/me", { auth: true });
  const list = await Promise.all(me.societies.map((id) => api.get(`/societies/${enc(id)}`)));
  const out = page("Society console");
  if (!list.length) out.body.append(h("p", {}, "You do not run a society here yet. Register yours to draft a share offer."));
  else out.body.append(h("ul", { class: "links" }, list.map((s) => h("li", {}, link(`#/console/societies/${enc(s.id)}`, s.name)))));
  out.body.append(h("p", {}, link("#/console/societies/new", "Register a society", { class: "button" })));
  return out;
}

function newSociety(_params, navigate) {
  const kinds = h("select", { id: "society-kind", name: "kind", "data-field": "kind", "aria-describedby": "society-kind-error" },
    Object.entries(KINDS).map(([value, text]) => h("option", { value }, text)));
  const form = h(
    "form",
    { novalidate: true },
    summary(),
    field({ label: "Society name", name: "name", required: true, autocomplete: "organization" }),
    h("div", { class: "field", "data-field-wrapper": "kind" }, h("label", { for: kinds.id }, "Kind of society"), h("p", { class: "error", id: "society-kind-error", hidden: true }), kinds),
    field({ label: "FCA registration number", name: "registration_number", required: true, hint: "As on the Mutuals Public Register, e.g. 7654 or RS007654.", extra: { class: "short" } }),
    field({ label: "Postcode of the registered office", name: "postcode", required: true, autocomplete: "postal-code", extra: { class: "short" } }),
    h("button", { type: "submit" }, "Register the society"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const v = (n) => form.elements[n].value.trim();
    try {
      const s = await busy(form, "Registering…", () => api.post("/societies", { name: v("name"), kind: v("kind"), registration_number: v("registration_number"), postcode: v("postcode") }, { auth: true }));
      navigate(`/console/societies/${enc(s.id)}`, { message: `${s.name} is registered. Next: its bank details.` });
    } catch (err) {
      showErrors(form, err);
    }
  });
  return page("Register a society", h("p", {}, "You become its first admin; you can add others afterwards."), form);
}

async function society({ id }, navigate) {
  const path = `/societies/${enc(id)}`;
  const [s, offers] = await Promise.all([api.get(path), api.get(`${path}/offers?limit=100`, { auth: true })]);
  const bank = h("dd", { class: "bank-state" }, bankWords(s.has_bank_details));
  const out = page(
    s.name,
    h("dl", { class: "terms" }, row("Kind", KINDS[s.kind] ?? s.kind), row("Registration number", s.registration_number), row("Postcode", s.postcode),
      h("div", {}, h("dt", {}, "Bank details"), bank)),
    h("h2", {}, "Offers"),
    offers.items.length
      ? h("ul", { class: "links" }, offers.items.map((o) => h("li", {}, link(`#/console/offers/${enc(o.id)}`, o.title), ` (${stateWords(o.status)})`)))
      : h("p", {}, "No offers yet."),
    h("p", {}, link(`#/console/societies/${enc(id)}/offers/new`, "Draft an offer", { class: "button" })),
    h("h2", {}, "Bank details"),
    bankForm(s, () => (bank.textContent = bankWords(true))),
    h("h2", {}, "Admins"),
    addAdmin(s),
  );
  return out;
}

const bankWords = (set) => (set ? "Set" : "Not set yet: needed before an offer is submitted");

/** The bank details form; `saved` runs once they are saved (the page then says they are set). */
function bankForm(s, saved) {
  const form = h(
    "form",
    { novalidate: true, class: "bank-form", "aria-label": "Bank details" },
    summary(),
    h("p", {}, "Investors who pay by bank transfer pay into this account. They cannot change once an offer is submitted."),
    field({ label: "Account name", name: "account_name", required: true, value: s.name }),
    field({ label: "Sort code", name: "sort_code", required: true, inputmode: "numeric", autocomplete: "off", hint: "6 digits, like 12-34-56.", extra: { class: "short" } }),
    field({ label: "Account number", name: "account_number", required: true, inputmode: "numeric", autocomplete: "off", hint: "8 digits.", extra: { class: "short" } }),
    h("button", { type: "submit" }, "Save bank details"),
  );
  const done = h("p", { class: "success", role: "status" });
  const checks = { sort_code: parseSortCode, account_number: parseAccountNumber };
  // Validated as people type: the message under the field says what is wrong so far.
  for (const [name, parse] of Object.entries(checks)) {
    form.elements[name].addEventListener("input", () => {
      const input = form.elements[name];
      const error = form.querySelector(`#${CSS.escape(input.id)}-error`);
      const result = input.value.trim() ? parse(input.value) : {};
      error.hidden = !result.error;
      error.textContent = result.error ?? "";
      if (result.error) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.textContent = "";
    const sort = parseSortCode(form.elements.sort_code.value);
    const account = parseAccountNumber(form.elements.account_number.value);
    const errors = [sort.error && { field: "sort_code", message: sort.error }, account.error && { field: "account_number", message: account.error }].filter(Boolean);
    if (errors.length) return showErrors(form, { fieldErrors: errors });
    const body = { account_name: form.elements.account_name.value.trim(), sort_code: sort.value, account_number: account.value };
    try {
      const details = await busy(form, "Saving…", () => api.put(`/societies/${enc(s.id)}/bank-details`, body, { auth: true }));
      done.textContent = `Bank details saved: ${details.account_name}, ${formatSortCode(details.sort_code)}, account ending ${details.account_number.slice(-4)}.`;
      saved();
    } catch (err) {
      showErrors(form, err);
    }
  });
  return h("div", {}, form, done);
}

/** Inviting a co-admin by email: they become one once they accept, on their page. */
function addAdmin(s) {
  const { form, done } = adminForm({
    add: (email) => api.post(`/societies/${enc(s.id)}/admins`, { email }, { auth: true }),
  });
  return h("div", {}, form, done);
}

// ---------------------------------------------------------------------------------------------
// The offer form: every term, the rules as people type, the API's errors under each field

const MONEY_FIELDS = [
  ["share_price", "Share price (£)", "Each share costs this. Every amount below must be whole shares."],
  ["min_target", "Minimum to go ahead (£)", "If less is raised by the close, the offer fails and everyone is refunded."],
  ["target", "Target (£)", null],
  ["max_target", "Maximum (£)", "No pledge is taken beyond it."],
  ["min_holding", "Smallest holding (£)", null],
  ["max_holding", "Largest holding (£)", "Per investor; at most £100,000 by law."],
];

function textArea(name, label, value, hint) {
  const id = `offer-${name}`;
  return h(
    "div",
    { class: "field", "data-field-wrapper": name },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "error", id: `${id}-error`, hidden: true }),
    Object.assign(h("textarea", { id, name, rows: "4", required: true, "data-field": name, "aria-describedby": `${hint ? `${id}-hint ` : ""}${id}-error` }), { value: value ?? "" }),
  );
}

function offerFields(o) {
  const pounds = (pence) => (pence === undefined ? "" : poundsInput(pence));
  const e = o.eligibility ?? {};
  return [
    field({ label: "Title", name: "title", required: true, value: o.title }),
    textArea("summary", "Summary", o.summary, "What the money is for, in a few sentences."),
    h("fieldset", {}, h("legend", {}, "Money (in pounds)"),
      MONEY_FIELDS.map(([name, label, hint]) => field({ label, name, field: `${name}_pence`, required: true, hint, inputmode: "decimal", autocomplete: "off", value: pounds(o[`${name}_pence`]), extra: { class: "short" } }))),
    h("fieldset", {}, h("legend", {}, "Dates (UK time)"),
      field({ label: "Opens", name: "opens_at", required: true, autocomplete: "off", value: o.opens_at ? ukText(o.opens_at) : "", hint: "Day/month/year and 24-hour time in the UK (GMT or BST), like 01/12/2026 09:00." }),
      field({ label: "Closes", name: "closes_at", required: true, autocomplete: "off", value: o.closes_at ? ukText(o.closes_at) : "", hint: "Like 31/12/2026 17:00; at most 180 days after it opens." })),
    field({ label: "Cooling-off (days)", name: "cooling_off_days", required: true, inputmode: "numeric", value: o.cooling_off_days ?? 14, hint: "How long after paying an investor may cancel and be refunded: 0 to 30 days.", extra: { class: "short" } }),
    field({ label: "Target interest (% a year)", name: "interest_rate", field: "interest_rate_bps", required: true, inputmode: "decimal", value: o.interest_rate_bps === undefined ? "0" : formatRate(o.interest_rate_bps).replace("%", ""), hint: "0 for none, or like 3 or 2.75.", extra: { class: "short" } }),
    field({ label: "Offer document link", name: "document_url", type: "url", value: o.document_url, hint: "An https:// address of the offer document (PDF)." }),
    h("fieldset", {}, h("legend", {}, "Who may invest"),
      field({ label: "Minimum age", name: "min_age", inputmode: "numeric", value: e.min_age, hint: `In whole years, 0 to 120; leave empty for the usual minimum of ${DEFAULT_MIN_AGE}.`, extra: { class: "short" } }),
      field({ label: "Local areas", name: "postcode_prefixes", value: (e.postcode_prefixes ?? []).join(", "), hint: "Beginnings of postcodes, separated by commas (like GL5, GL6). Empty: anyone in the UK." })),
  ];
}

/** The rules as a checklist, redrawn on every keystroke; the count is announced politely. */
function rulesBox(form) {
  const list = h("ul", { class: "rules" });
  const count = h("p", { class: "rules-count", role: "status" });
  const update = () => {
    const values = Object.fromEntries([...form.elements].filter((e) => e.name).map((e) => [e.name, e.value]));
    const rules = offerRules(values);
    list.replaceChildren(...rules.map(({ rule, ok }) => h("li", { class: ok === null ? "rule-wait" : ok ? "rule-ok" : "rule-bad" }, h("span", { class: "visually-hidden" }, ok === null ? "Not checked yet: " : ok ? "Met: " : "Not met: "), rule)));
    const bad = rules.filter((r) => r.ok === false).length;
    const text = bad ? `${bad} ${bad === 1 ? "rule is" : "rules are"} not met yet.` : "Every rule checked so far is met.";
    if (count.textContent !== text) count.textContent = text;
  };
  form.addEventListener("input", update);
  return { box: h("div", { class: "rules-box" }, h("h2", {}, "The rules"), count, list), update };
}

/**
 * An API error on an offer in the form's words (`min_target_pence` → "the minimum to go ahead"),
 * a list entry's error (`postcode_prefixes[1]`) on the list's input.
 */
function offerError(err) {
  const fieldErrors = (err.fieldErrors ?? []).map((f) => ({ field: String(f.field).replace(/\[\d+\]$/, ""), message: offerWords(f.message) }));
  return { message: offerWords(err.message), fieldErrors };
}

/** The typed terms → `{body, eligibility}` or `{errors}` (what cannot even be sent). */
function readOffer(form) {
  const v = (n) => form.elements[n].value.trim();
  const errors = [];
  const body = { title: v("title"), summary: v("summary"), document_url: v("document_url") || null };
  for (const [name] of MONEY_FIELDS) {
    const parsed = parsePounds(v(name));
    if (parsed.error) errors.push({ field: `${name}_pence`, message: parsed.error });
    else body[`${name}_pence`] = parsed.pence;
  }
  for (const name of ["opens_at", "closes_at"]) {
    body[name] = ukToIso(parseUkDateTime(v(name)));
    if (!body[name]) errors.push({ field: name, message: "Enter a real day and time, like 01/12/2026 09:00" });
  }
  const cooling = parseWhole(v("cooling_off_days"), "a whole number of days");
  if (cooling.error) errors.push({ field: "cooling_off_days", message: cooling.error });
  else body.cooling_off_days = cooling.value;
  const rate = parsePercent(v("interest_rate"));
  if (rate.error) errors.push({ field: "interest_rate_bps", message: rate.error });
  else body.interest_rate_bps = rate.bps;
  // Empty is the server's default, sent as such: left out, the API would keep an edited draft's old age.
  const age = v("min_age") ? parseWhole(v("min_age"), "an age in whole years") : { value: DEFAULT_MIN_AGE };
  if (age.error) errors.push({ field: "min_age", message: age.error });
  const eligibility = { min_age: age.value, postcode_prefixes: parsePrefixes(v("postcode_prefixes")) };
  return errors.length ? { errors } : { body, eligibility };
}

async function offerForm({ society: societyId, offer: offerId }, navigate) {
  let o = offerId ? await offerOf(offerId) : {};
  if (offerId && o.status !== "draft") {
    throw Object.assign(new Error(`This offer is ${stateWords(o.status).toLowerCase()}: only a draft can be edited.`), { status: 409 });
  }
  const form = h("form", { novalidate: true, class: "offer-form" }, summary(), ...offerFields(o));
  const rules = rulesBox(form);
  form.append(rules.box, h("button", { type: "submit" }, offerId ? "Save changes" : "Save the draft"));
  rules.update();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const read = readOffer(form);
    if (read.errors) return showErrors(form, { fieldErrors: read.errors });
    try {
      await busy(form, "Saving…", async () => {
        // Saved once, the draft is edited from then on (a second press never makes a second offer).
        o = o.id ? await api.patch(`/offers/${enc(o.id)}`, read.body, { auth: true }) : await api.post(`/societies/${enc(societyId)}/offers`, read.body, { auth: true });
        await api.post(`/offers/${enc(o.id)}/eligibility`, read.eligibility, { auth: true });
      });
      navigate(`/console/offers/${enc(o.id)}`, { message: "The draft is saved. Submit it for approval when it is ready." });
    } catch (err) {
      showErrors(form, offerError(err));
    }
  });
  const title = offerId ? `Edit: ${o.title}` : "Draft a share offer";
  return page(title, offerId ? offerNav(o, "/edit") : null, h("p", {}, "Every term of the offer. The rules are checked as you type; the platform checks them again when you save."), form);
}

// ---------------------------------------------------------------------------------------------
// An offer's overview: its state, what to do next, match funding and the audit trail

async function overview({ id }, navigate) {
  const o = await offerOf(id);
  const path = `/offers/${enc(id)}`;
  const [audit, applications, me] = await Promise.all([
    api.get(`${path}/audit`, { auth: true }),
    api.get(`${path}/match-applications`, { auth: true }).catch(() => null),
    api.get("/me", { auth: true }),
  ]);
  const out = page(o.title, offerNav(o, ""), h("p", { class: "lead state" }, `State: ${stateWords(o.status)}`));
  if (o.status === "draft") out.body.append(draftActions(o, navigate));
  if (o.status === "open") out.body.append(await money.dashboard(o));
  if (["closed", "succeeded", "allocated", "failed", "refunded"].includes(o.status)) out.body.append(await money.closeout(o));
  if (["draft", "submitted", "approved", "open"].includes(o.status)) {
    out.body.append(h("p", {}, link(`#/console${path}/cancel`, "Cancel this offer…")));
  }
  out.body.append(h("h2", {}, "Terms"), termsList(o), h("h2", {}, "Match funding"), applicationList(applications, o), withdrawable(o) && applications?.length ? approvalNote() : "", h("h2", {}, "Audit trail"), auditTable(audit, me));
  return out;
}

function draftActions(o, navigate) {
  const submit = h("button", { type: "button" }, "Submit for approval");
  const error = h("div", { class: "summary", role: "alert", tabindex: "-1", hidden: true });
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    error.hidden = true;
    try {
      await api.post(`/offers/${enc(o.id)}/submit`, {}, { auth: true });
      navigate(`/console/offers/${enc(o.id)}`, { replace: true, message: "Submitted: the platform will review it." });
    } catch (err) {
      submit.disabled = false;
      error.hidden = false;
      const { message, fieldErrors } = offerError(err);
      error.replaceChildren(h("h2", {}, "It could not be submitted"), h("p", {}, message), ...fieldErrors.map((f) => h("p", {}, upper(`${offerWords(f.field)}: ${f.message}`))));
      error.focus();
    }
  });
  return h("div", { class: "actions" }, error, h("p", {}, link(`#/console/offers/${enc(o.id)}/edit`, "Edit the draft", { class: "button secondary" }), " ", submit));
}

function termsList(o) {
  const e = o.eligibility ?? {};
  return h(
    "dl",
    { class: "terms" },
    row("Share price", formatPounds(o.share_price_pence)),
    row("Minimum / target / maximum", `${formatPounds(o.min_target_pence)} / ${formatPounds(o.target_pence)} / ${formatPounds(o.max_target_pence)}`),
    row("Holdings", `${formatPounds(o.min_holding_pence)} to ${formatPounds(o.max_holding_pence)}`),
    row("Opens", formatDateTime(o.opens_at)),
    row("Closes", formatDateTime(o.closes_at)),
    row("Cooling-off", `${o.cooling_off_days} days`),
    row("Interest", formatRate(o.interest_rate_bps)),
    row("Minimum age", e.min_age ? String(e.min_age) : "None"),
    row("Local areas", e.postcode_prefixes?.length ? e.postcode_prefixes.join(", ") : "Anywhere"),
  );
}

const APPLICATION_WORDS = { pending: "Waiting for the funder", approved: "Approved", rejected: "Rejected", released: "Released (commitment returned to the fund)" };
const WITHDRAWN = "withdrawn by the society"; // the API's reason for an application the society withdrew
/** The offer states in which the society may withdraw an application (before the offer opens). */
const withdrawable = (o) => ["draft", "submitted", "approved"].includes(o?.status);
/** Why withdrawing exists, under the applications. */
const approvalNote = () => h("p", { class: "hint" }, "A fund's approval fixes the offer's terms; to change them, withdraw the application first (you cannot apply to the same fund again).");

/** The offer's applications; with the offer `o` before it opens, each pending or approved one can be withdrawn. */
function applicationList(list, o = null) {
  if (list === null) return h("p", {}, "Applications could not be loaded.");
  if (!list.length) return h("p", {}, "No applications yet.");
  // Withdrawn: the item is drawn again as the API now has it, focus kept on it.
  const draw = (a) => {
    const li = applicationItem(a, o, (answer) => {
      const fresh = draw({ ...a, ...answer });
      li.replaceWith(fresh);
      const done = fresh.querySelector(".withdrawn");
      done.setAttribute("tabindex", "-1");
      done.focus();
    });
    return li;
  };
  return h("ul", { class: "applications" }, list.map(draw));
}

function applicationItem(a, o, withdrawn) {
  const byUs = a.status === "released" && a.reason === WITHDRAWN;
  return h("li", { "data-application": a.id }, h("strong", {}, a.fund_name), ` from ${a.funder_name}: `,
    byUs ? h("span", { class: "withdrawn", role: "status" }, "Withdrawn by the society: the commitment went back to the fund.") : APPLICATION_WORDS[a.status] ?? a.status,
    a.status === "pending" || byUs ? "" : `, commitment ${formatPounds(a.commitment_pence)}, matched ${formatPounds(a.match_pence)}`,
    a.reason && !byUs ? ` (reason: ${a.reason})` : "", a.decided_at ? `, decided ${formatWhen(a.decided_at)}` : `, applied ${formatWhen(a.created_at)}`,
    withdrawable(o) && ["pending", "approved"].includes(a.status) ? withdrawControl(o, a, withdrawn) : null);
}

/** "Withdraw the application to …", asked again in place before it is sent; a refusal (409) is said beside it. */
function withdrawControl(o, a, withdrawn) {
  const start = h("button", { type: "button", class: "secondary" }, `Withdraw the application to ${a.fund_name}`);
  const yes = h("button", { type: "button", class: "danger" }, "Yes, withdraw it");
  const no = h("button", { type: "button", class: "secondary" }, "Keep it");
  const error = h("p", { class: "error", role: "alert" });
  const ask = h("div", { class: "confirm", role: "group", "aria-label": `Confirm withdrawing the application to ${a.fund_name}`, hidden: true },
    h("p", {}, `Withdraw the application to ${a.fund_name}? ${a.status === "approved" ? "Its commitment goes back to the fund and the funder is told" : "The funder is told"}; you cannot apply to this fund again.`), yes, " ", no);
  const asking = (on) => {
    ask.hidden = !on;
    start.hidden = on;
    (on ? yes : start).focus();
  };
  start.addEventListener("click", () => {
    error.textContent = "";
    asking(true);
  });
  no.addEventListener("click", () => asking(false));
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    error.textContent = "";
    try {
      withdrawn(await api.post(`/offers/${enc(o.id)}/match-applications/${enc(a.id)}/withdraw`, {}, { auth: true }));
    } catch (err) {
      yes.disabled = no.disabled = false;
      error.textContent = upper(err.message);
    }
  });
  return h("div", { class: "withdraw" }, start, ask, error);
}

/** Who did it, in words: you, another account (by the end of its id), or the scheduler. */
function actorWords(actor, me) {
  if (actor === `user:${me.id}`) return `You (${me.display_name})`;
  if (actor.startsWith("user:")) return `Another account (…${actor.slice(-6)})`;
  return actor === "scheduler" ? "The scheduler (automatic)" : actor;
}

function auditTable(audit, me) {
  if (!audit.length) return h("p", {}, "Nothing has happened yet.");
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": "Audit trail", tabindex: "0" },
    h("table", { class: "audit" }, h("caption", { class: "visually-hidden" }, "Every change of state, oldest first"),
      h("thead", {}, h("tr", {}, ["When (UK time)", "Who", "From", "To"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, audit.map((a) => h("tr", {}, h("td", {}, formatWhen(a.at)), h("td", {}, actorWords(a.actor, me)), h("td", {}, a.from_status ? stateWords(a.from_status) : "—"), h("td", {}, stateWords(a.to_status)))))),
  );
}

// ---------------------------------------------------------------------------------------------
// Match funds: every fund's rules in plain words, and applying

async function funds({ id }, navigate) {
  const o = await offerOf(id);
  const [all, mine] = await Promise.all([api.get("/funds"), api.get(`/offers/${enc(id)}/match-applications`, { auth: true })]);
  const applied = new Map(mine.map((a) => [a.fund_id, a]));
  const status = h("p", { class: "success", role: "status" });
  const cards = all.map((f) => {
    const a = applied.get(f.id);
    const action = a
      ? h("p", { class: "meta" }, `You applied: ${APPLICATION_WORDS[a.status] ?? a.status}${a.status === "pending" ? "" : `, commitment ${formatPounds(a.commitment_pence)}`}.`)
      : applyButton(o, f, status, navigate);
    return h("li", { class: "card", "data-fund": f.id }, h("h2", {}, f.name), h("p", { class: "society" }, `From ${f.funder_name}`),
      h("p", {}, `How it matches: ${f.rule_text}.`),
      h("p", { class: "meta" }, `Budget ${formatPounds(f.budget_pence)}, ${formatPounds(f.available_pence)} still available. `, link(`#/funds/${enc(f.id)}`, ["Its public page", h("span", { class: "visually-hidden" }, ` (${f.name})`)])), action);
  });
  return page(`Match funding: ${o.title}`, offerNav(o, "/funds"), status, h("h2", {}, "Your applications"), applicationList(mine, o), withdrawable(o) && mine.length ? approvalNote() : "",
    h("h2", {}, "Funds"), all.length ? h("ul", { class: "cards" }, cards) : h("p", {}, "No match funds exist yet."));
}

function applyButton(o, f, status, navigate) {
  const button = h("button", { type: "button" }, "Apply", h("span", { class: "visually-hidden" }, ` to ${f.name}`));
  const error = h("p", { class: "error", role: "alert" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api.post(`/offers/${enc(o.id)}/match-applications`, { fund_id: f.id }, { auth: true });
      navigate(`/console/offers/${enc(o.id)}/funds`, { replace: true, message: `Applied to ${f.name}. The funder decides the commitment.` });
    } catch (err) {
      button.disabled = false;
      error.textContent = err.message;
    }
  });
  return h("div", {}, button, error);
}

export { page, link, row, enc };
