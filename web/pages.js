// The pages. Each takes the route's parameters and returns `{title, body}` (an element), or
// throws an ApiError that the router shows. Every call goes through the public API.

import * as api from "./api.js";
import {
  cancellable, consoleHref, formatDate, formatDateTime, formatLeverage, formatMonth, formatPounds, formatRate, formatShare,
  formatSortCode, formatWhen, holdingRoom, offerStatus, parsePounds, partPaid, pledgeStatus, poundsInput, safeUrl,
  invitationWords, sharesFor, transferKind, transferState,
} from "./format.js";
import { busy, checkbox, clearErrors, field, fieldError, h, monthChart, progressBar, showErrors, summary } from "./ui.js";

const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);

/** Reads every page of a list endpoint (`{items, next_cursor}`). */
async function all(path, options) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api.get(`${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, options);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

const societies = new Map();
/** A society's public profile, fetched once per page load. */
function society(id) {
  if (!societies.has(id)) {
    const pending = api.get(`/societies/${encodeURIComponent(id)}`);
    pending.catch(() => societies.delete(id));
    societies.set(id, pending);
  }
  return societies.get(id);
}

const KINDS = { co_operative: "Co-operative society", community_benefit_society: "Community benefit society" };

/** The sign-in page's address, coming back to `next` afterwards. */
export const signInHref = (next) => `#/signin?next=${encodeURIComponent(next)}`;

// ---------------------------------------------------------------------------------------------
// Offers

export async function offers() {
  const [list, invited] = await Promise.all([all("/offers?status=open"), invitations()]);
  const names = await Promise.all(list.map((o) => society(o.society_id).then((s) => s.name, () => "")));
  const body = h("div", {}, h("h1", { tabindex: "-1" }, "Open share offers"), invited);
  if (list.length === 0) {
    body.append(h("p", {}, "No offers are open right now. Please look again soon."));
  }
  const cards = h("ul", { class: "cards" });
  list.forEach((offer, i) => {
    cards.append(
      h(
        "li",
        { class: "card" },
        h("h2", {}, link(`#/offers/${encodeURIComponent(offer.id)}`, offer.title)),
        names[i] ? h("p", { class: "society" }, names[i]) : null,
        h("p", {}, offer.summary),
        progressBar(offer),
        h(
          "p",
          { class: "meta" },
          `${offer.investor_count} ${offer.investor_count === 1 ? "investor" : "investors"} · closes ${formatDate(offer.closes_at)}`,
        ),
      ),
    );
  });
  if (list.length) body.append(cards);
  return { title: "Open share offers", body };
}

function terms(offer) {
  const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
  const eligibility = offer.eligibility ?? {};
  return h(
    "dl",
    { class: "terms" },
    row("Share price", formatPounds(offer.share_price_pence)),
    row("Smallest holding", formatPounds(offer.min_holding_pence)),
    row("Largest holding", formatPounds(offer.max_holding_pence)),
    row("Minimum to go ahead", formatPounds(offer.min_target_pence)),
    row("Target", formatPounds(offer.target_pence)),
    row("Maximum", formatPounds(offer.max_target_pence)),
    row("Interest (target)", formatRate(offer.interest_rate_bps)),
    row("Cooling-off", `${offer.cooling_off_days} days after you pay`),
    row("Opens", formatDateTime(offer.opens_at)),
    row("Closes", formatDateTime(offer.closes_at)),
    eligibility.min_age ? row("Minimum age", `${eligibility.min_age}`) : null,
    eligibility.postcode_prefixes?.length ? row("Open to postcodes", eligibility.postcode_prefixes.join(", ")) : null,
  );
}

function documentLink(offer, text = "Read the offer document") {
  const url = offer.document_url ? safeUrl(offer.document_url) : null;
  return url ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, text, h("span", { class: "visually-hidden" }, " (opens in a new tab)")) : null;
}

export async function offer({ id }) {
  const path = `/offers/${encodeURIComponent(id)}`;
  const o = await api.get(path, { auth: api.signedIn() });
  const [s, funders] = await Promise.all([society(o.society_id), api.get(`${path}/match-funders`, { auth: api.signedIn() })]);
  const open = o.status === "open";
  const body = h(
    "article",
    { class: "offer" },
    h("p", { class: "society" }, s.name),
    h("h1", { tabindex: "-1" }, o.title),
    h("p", { class: "lead" }, o.summary),
    progressBar(o),
    h("p", { class: "meta" }, `${o.investor_count} ${o.investor_count === 1 ? "investor" : "investors"} so far`),
    open
      ? h("p", {}, link(`#${path}/pledge`, "Pledge to this offer", { class: "button" }))
      : h("p", { class: "notice" }, `This offer is ${o.status} and is not taking pledges.`),
    h("h2", {}, "Terms"),
    terms(o),
    documentLink(o) ? h("p", {}, documentLink(o)) : h("p", {}, "The society has not linked an offer document yet."),
    h("h2", {}, "The society"),
    h(
      "dl",
      { class: "terms" },
      h("div", {}, h("dt", {}, "Name"), h("dd", {}, s.name)),
      h("div", {}, h("dt", {}, "Kind"), h("dd", {}, KINDS[s.kind] ?? s.kind)),
      h("div", {}, h("dt", {}, "Registration number"), h("dd", {}, s.registration_number)),
      h("div", {}, h("dt", {}, "Postcode"), h("dd", {}, s.postcode)),
    ),
    h("h2", {}, "Match funders"),
    funders.length
      ? h(
          "ul",
          { class: "funders" },
          funders.map((f) =>
            h("li", {}, h("strong", {}, f.funder_name), " (", link(`#/funds/${encodeURIComponent(f.fund_id)}`, f.fund_name), `): ${formatPounds(f.match_pence)} matched so far, up to ${formatPounds(f.commitment_pence)}`),
          ),
        )
      : h("p", {}, "No match funding for this offer yet."),
  );
  return { title: o.title, body };
}

// ---------------------------------------------------------------------------------------------
// Invitations: the signed-in person's invitations to be an admin, on the page they land on

/**
 * The caller's invitations waiting for them, each with Accept and Decline; null (nothing shown)
 * when signed out, when there are none, or when they cannot be read (the page still works).
 */
async function invitations() {
  if (!api.signedIn()) return null;
  const list = await api.get("/me/invitations", { auth: true }).catch(() => []);
  if (!Array.isArray(list) || !list.length) return null;
  return h("section", { class: "invitations", "aria-labelledby": "invitations-heading" },
    h("h2", { id: "invitations-heading" }, "Invitations"),
    h("ul", { class: "invitation-list" }, list.map(invitation)));
}

/** One invitation; once answered, what it did (focused, since its buttons are gone). */
function invitation(inv) {
  const item = h("li", { class: "card invitation", "data-invitation": inv.id });
  const named = (verb) => h("button", { type: "button", class: verb === "Decline" ? "secondary" : null }, verb, h("span", { class: "visually-hidden" }, ` the invitation to ${inv.organisation_name}`));
  const accept = named("Accept");
  const decline = named("Decline");
  const error = h("p", { class: "error", role: "alert" });
  const answer = (verb, done) => async () => {
    accept.disabled = decline.disabled = true;
    error.textContent = "";
    try {
      const said = await api.post(`/me/invitations/${encodeURIComponent(inv.id)}/${verb}`, {}, { auth: true });
      const result = h("p", { class: "success", tabindex: "-1" }, ...done(said));
      item.replaceChildren(result);
      result.focus();
    } catch (err) {
      accept.disabled = decline.disabled = false;
      error.textContent = err.message;
    }
  };
  accept.addEventListener("click", answer("accept", (said) => {
    api.rolesChanged(); // the navigation now links to the new console
    return [`You are now an admin of ${inv.organisation_name}. `, link(consoleHref(said?.kind ?? inv.kind, said?.organisation_id ?? inv.organisation_id), inv.kind === "society" ? "Open the society console" : "Open the funder console")];
  }));
  decline.addEventListener("click", answer("decline", () => [`You declined the invitation to ${inv.organisation_name}.`]));
  item.append(h("p", {}, invitationWords(inv)), h("p", { class: "actions" }, accept, " ", decline), error);
  return item;
}

// ---------------------------------------------------------------------------------------------
// Accounts

export function signIn({ next = "/" }, navigate) {
  const form = h(
    "form",
    { novalidate: true },
    summary(),
    field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email) return fieldError(form, "email", "enter your email address");
    if (!password) return fieldError(form, "password", "enter your password");
    try {
      await busy(form, "Signing in…", () => api.signIn(email, password));
      navigate(next);
    } catch (err) {
      showErrors(form, err);
    }
  });
  const body = h(
    "div",
    { class: "narrow" },
    h("h1", { tabindex: "-1" }, "Sign in"),
    form,
    h("p", {}, "New here? ", link(`#/signup?next=${encodeURIComponent(next)}`, "Create an account")),
  );
  return { title: "Sign in", body };
}

export function signUp({ next = "/" }, navigate) {
  const form = h(
    "form",
    { novalidate: true },
    summary(),
    field({ label: "Your name", name: "display_name", autocomplete: "name", required: true, hint: "How we address you in emails." }),
    field({ label: "Email", name: "email", type: "email", autocomplete: "email", required: true }),
    field({ label: "Password", name: "password", type: "password", autocomplete: "new-password", required: true, hint: "At least 12 characters. A few unrelated words work well." }),
    h("button", { type: "submit" }, "Create account"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      display_name: form.elements.display_name.value.trim(),
      email: form.elements.email.value.trim(),
      password: form.elements.password.value,
    };
    try {
      await busy(form, "Creating your account…", async () => {
        await api.post("/auth/register", body);
        await api.signIn(body.email, body.password);
      });
      navigate(`/profile?next=${encodeURIComponent(next)}`);
    } catch (err) {
      showErrors(form, err);
    }
  });
  const body = h(
    "div",
    { class: "narrow" },
    h("h1", { tabindex: "-1" }, "Create an account"),
    form,
    h("p", {}, "Already have one? ", link(signInHref(next), "Sign in")),
  );
  return { title: "Create an account", body };
}

export async function profile({ next }, navigate) {
  const p = await api.get("/me/profile", { auth: true });
  const form = h(
    "form",
    { novalidate: true },
    summary(),
    field({ label: "Full name", name: "full_name", autocomplete: "name", required: true, value: p.full_name, hint: "As it should appear on the share register." }),
    field({ label: "Address line 1", name: "address_line1", autocomplete: "address-line1", required: true, value: p.address_line1 }),
    field({ label: "Address line 2", name: "address_line2", autocomplete: "address-line2", value: p.address_line2 }),
    field({ label: "Town or city", name: "town", autocomplete: "address-level2", required: true, value: p.town }),
    field({ label: "Postcode", name: "postcode", autocomplete: "postal-code", required: true, value: p.postcode, extra: { class: "short" } }),
    field({ label: "Date of birth", name: "date_of_birth", type: "date", autocomplete: "bday", required: true, value: p.date_of_birth, hint: "Some offers are open only to adults." }),
    h("button", { type: "submit" }, "Save profile"),
  );
  const saved = h("p", { class: "success", role: "status" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    saved.textContent = "";
    const value = (name) => form.elements[name].value.trim();
    const body = {
      full_name: value("full_name"),
      address_line1: value("address_line1"),
      address_line2: value("address_line2") || null,
      town: value("town"),
      postcode: value("postcode"),
      date_of_birth: value("date_of_birth"),
    };
    if (!body.date_of_birth) return fieldError(form, "date_of_birth", "enter your date of birth");
    try {
      await busy(form, "Saving…", () => api.put("/me/profile", body, { auth: true }));
      if (next) navigate(next);
      else saved.textContent = "Your profile is saved.";
    } catch (err) {
      showErrors(form, err);
    }
  });
  const body = h(
    "div",
    { class: "narrow" },
    h("h1", { tabindex: "-1" }, "Your profile"),
    h("p", {}, "A society must record each member's name and address in its share register. We only share these with the societies you invest in."),
    p.profile_complete ? null : h("p", { class: "notice" }, "Complete your profile before you pledge."),
    form,
    saved,
  );
  return { title: "Your profile", body };
}

// ---------------------------------------------------------------------------------------------
// Pledging

const LIVE = new Set(["pending", "paid", "allocated"]);

export async function pledge({ id }, navigate) {
  const path = `/offers/${encodeURIComponent(id)}`;
  const [o, mine, methods, me] = await Promise.all([
    api.get(path, { auth: true }),
    all("/me/pledges", { auth: true }),
    api.get("/payment-methods"),
    api.get("/me", { auth: true }),
  ]);
  const live = mine.filter((p) => p.offer_id === o.id && LIVE.has(p.status)).reduce((sum, p) => sum + p.amount_pence, 0);
  const { room, minimumNow } = holdingRoom(o, live);
  const card = methods.methods.includes("card") && methods.stripe_publishable_key;

  const amount = field({
    label: "Amount in pounds",
    name: "amount",
    field: "amount_pence",
    inputmode: "decimal",
    autocomplete: "off",
    required: true,
    hint:
      `Shares cost ${formatPounds(o.share_price_pence)} each. Each investor holds between ${formatPounds(o.min_holding_pence)} ` +
      `and ${formatPounds(o.max_holding_pence)} in this offer` +
      (live ? `; you have pledged ${formatPounds(live)} already, so you can add up to ${formatPounds(room)}.` : "."),
    value: minimumNow > 0 ? poundsInput(minimumNow) : "",
    extra: { class: "short" },
  });
  const shares = h("output", { class: "shares", "aria-live": "polite", for: amount.querySelector("input").id });
  const showShares = () => {
    const parsed = parsePounds(form.elements.amount.value);
    if (parsed.error) {
      shares.textContent = "";
      return;
    }
    const { shares: n, remainder } = sharesFor(parsed.pence, o.share_price_pence);
    shares.textContent = remainder
      ? `${n} ${n === 1 ? "share" : "shares"}, and ${formatPounds(remainder)} that does not buy a whole share`
      : `${n} ${n === 1 ? "share" : "shares"}`;
  };
  const method = (value, text, hint, checked) =>
    h("div", { class: "radio" }, h("input", { type: "radio", name: "payment_method", id: `pm-${value}`, value, checked, "data-field": "payment_method" }), h("label", { for: `pm-${value}` }, text, h("span", { class: "hint" }, hint)));
  const terms = checkbox({
    name: "accept_terms",
    required: true,
    label: [
      "I have read the ",
      documentLink(o, "offer document") ?? "offer",
      ` and accept its terms. I understand I could lose the money I invest and that community shares are not covered by the FSCS.`,
    ],
  });
  // Errors naming payment_method are shown here (found through the first radio's id).
  const paymentError = h("p", { class: "error", id: "pm-bank_transfer-error", hidden: true });
  const form = h(
    "form",
    { novalidate: true },
    summary(),
    amount,
    shares,
    h(
      "fieldset",
      { "aria-describedby": paymentError.id },
      h("legend", {}, "How you will pay"),
      paymentError,
      method("bank_transfer", "Bank transfer", " — we give you the society's bank details and a reference", true),
      card ? method("card", "Card", " — pay now, securely through Stripe", false) : null,
    ),
    terms,
    h("button", { type: "submit" }, "Pledge"),
  );
  form.elements.amount.addEventListener("input", showShares);
  showShares();

  let attempt = null; // {body, key}: a retry of the same pledge reuses its Idempotency-Key
  const result = h("div", { class: "result" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const parsed = parsePounds(form.elements.amount.value);
    if (parsed.error) return fieldError(form, "amount_pence", parsed.error);
    const body = {
      amount_pence: parsed.pence,
      payment_method: form.elements.payment_method.value,
      accept_terms: form.elements.accept_terms.checked,
    };
    if (!attempt || JSON.stringify(attempt.body) !== JSON.stringify(body)) attempt = { body, key: api.newKey() };
    try {
      const made = await busy(form, "Pledging…", () =>
        api.post(`${path}/pledges`, body, { auth: true, headers: { "Idempotency-Key": attempt.key } }),
      );
      attempt = null;
      form.hidden = true;
      result.replaceChildren(await confirmation(made, o, methods));
      result.querySelector("h2")?.focus();
    } catch (err) {
      showErrors(form, err, {
        profile: () => link(`#/profile?next=${encodeURIComponent(`/offers/${o.id}/pledge`)}`, "Complete your profile"),
        date_of_birth: () => link("#/profile", "Check your profile"),
        postcode: () => link("#/profile", "Check your profile"),
      });
    }
  });

  const body = h(
    "div",
    { class: "narrow" },
    h("p", { class: "society" }, link(`#${path}`, `Back to ${o.title}`)),
    h("h1", { tabindex: "-1" }, `Pledge to ${o.title}`),
    me.profile_complete
      ? null
      : h("p", { class: "notice" }, "The share register needs your name, address and date of birth. ", link(`#/profile?next=${encodeURIComponent(`/offers/${o.id}/pledge`)}`, "Complete your profile"), " first."),
    form,
    result,
  );
  return { title: `Pledge to ${o.title}`, body };
}

/** What the investor sees once the pledge is made: how to pay it. */
async function confirmation(made, o, methods) {
  const due = h("p", {}, `Please pay by ${formatDate(made.payment_due_at)}; an unpaid pledge lapses then.`);
  const heading = h("h2", { tabindex: "-1" }, `Thank you: ${formatPounds(made.amount_pence)} for ${made.shares} ${made.shares === 1 ? "share" : "shares"}`);
  const mine = h("p", {}, "You can follow it, or cancel it while you may, in ", link("#/pledges", "your pledges"), ".");
  const payment = made.payment ?? {};
  if (payment.method === "card") {
    return h("section", { class: "confirmation", "aria-labelledby": "confirmation-heading" }, Object.assign(heading, { id: "confirmation-heading" }), cardPayment(made, methods), mine);
  }
  const bank = payment.bank_details;
  return h(
    "section",
    { class: "confirmation", "aria-labelledby": "confirmation-heading" },
    Object.assign(heading, { id: "confirmation-heading" }),
    h("p", {}, `Pay ${formatPounds(made.amount_pence)} by bank transfer to the society's account, quoting this reference, so they can match your payment:`),
    h(
      "dl",
      { class: "terms bank" },
      h("div", {}, h("dt", {}, "Reference"), h("dd", { class: "reference", "data-reference": payment.bank_reference }, payment.bank_reference)),
      bank ? h("div", {}, h("dt", {}, "Account name"), h("dd", {}, bank.account_name)) : null,
      bank ? h("div", {}, h("dt", {}, "Sort code"), h("dd", {}, formatSortCode(bank.sort_code))) : null,
      bank ? h("div", {}, h("dt", {}, "Account number"), h("dd", {}, bank.account_number)) : null,
      h("div", {}, h("dt", {}, "Amount"), h("dd", {}, formatPounds(made.amount_pence))),
    ),
    due,
    h("p", {}, `We have emailed you these details too. After you pay you have a ${o.cooling_off_days}-day cooling-off period.`),
    mine,
  );
}

/** Stripe's card form for a pending card pledge (card.js and Stripe.js load only now). */
function cardPayment(p, methods) {
  const box = h("div", { class: "card-payment" }, h("p", {}, "Loading the secure card form…"));
  import("./card.js")
    .then((m) => m.mountCardPayment(box, { publishableKey: methods.stripe_publishable_key, clientSecret: p.payment?.client_secret, pledge: p }))
    .catch(() => {
      box.replaceChildren(h("p", { class: "error", role: "alert" }, "The card form could not be loaded. Your pledge is saved: you can pay it later from your pledges, or cancel it."));
    });
  return box;
}

// ---------------------------------------------------------------------------------------------
// My pledges and holdings

const offerTitles = new Map();
function offerTitle(id) {
  if (!offerTitles.has(id)) {
    const pending = api.get(`/offers/${encodeURIComponent(id)}`, { auth: true }).then((o) => o.title, () => "An offer");
    offerTitles.set(id, pending);
  }
  return offerTitles.get(id);
}

export async function myPledges(_params, navigate) {
  const [list, methods] = await Promise.all([all("/me/pledges", { auth: true }), api.get("/payment-methods")]);
  const cardOn = methods.methods.includes("card") && methods.stripe_publishable_key;
  const titles = await Promise.all(list.map((p) => offerTitle(p.offer_id)));
  const status = h("p", { class: "success", role: "status" });
  const body = h("div", {}, h("h1", { tabindex: "-1" }, "Your pledges"), status);
  if (!list.length) {
    body.append(h("p", {}, "You have not pledged yet. ", link("#/", "See the open offers"), "."));
    return { title: "Your pledges", body };
  }
  const table = h(
    "table",
    { class: "pledges" },
    h("caption", { class: "visually-hidden" }, "Your pledges, newest first"),
    h("thead", {}, h("tr", {}, ["Offer", "Amount", "Shares", "Status", "Payment", ""].map((t) => h("th", { scope: "col" }, t)))),
  );
  const rows = h("tbody");
  list.forEach((p, i) => {
    const pay = p.payment ?? {};
    const paymentText =
      p.status === "pending"
        ? pay.method === "bank_transfer"
          ? [
              `Bank transfer, reference `,
              h("strong", { class: "reference" }, pay.bank_reference ?? ""),
              `, by ${formatDate(p.payment_due_at)}`,
              partPaid(p) ? ` (${partPaid(p)})` : "",
            ]
          : ["Card", pay.failure_reason ? ` (last attempt failed: ${pay.failure_reason})` : ""]
        : p.paid_at
          ? `Paid ${formatDate(p.paid_at)}`
          : "";
    const actions = h("td", { class: "actions" });
    const row = h("tr", { "data-pledge": p.id });
    if (cardOn && p.status === "pending" && pay.method === "card") {
      const payNow = h("button", { type: "button" }, "Pay by card", h("span", { class: "visually-hidden" }, ` for ${titles[i]}`));
      payNow.addEventListener("click", async () => {
        payNow.disabled = true;
        try {
          const fresh = await api.get(`/pledges/${encodeURIComponent(p.id)}`, { auth: true });
          const cell = h("td", { colspan: "6" }, cardPayment(fresh, methods));
          row.after(h("tr", { class: "card-row" }, cell));
          payNow.remove();
        } catch (err) {
          payNow.disabled = false;
          status.textContent = err.message;
        }
      });
      actions.append(payNow, " ");
    }
    if (cancellable(p)) {
      const cancel = h("button", { type: "button", class: "secondary" }, "Cancel pledge", h("span", { class: "visually-hidden" }, ` to ${titles[i]}`));
      cancel.addEventListener("click", () => confirmCancel(actions, p, titles[i], status, navigate));
      actions.append(cancel);
    }
    row.append(
      h("th", { scope: "row" }, link(`#/offers/${encodeURIComponent(p.offer_id)}`, titles[i])),
      h("td", {}, formatPounds(p.amount_pence)),
      h("td", {}, String(p.shares)),
      h("td", { class: "status" }, pledgeStatus(p.status), p.refund ? ` (refund ${p.refund.status})` : ""),
      h("td", {}, paymentText),
      actions,
    );
    rows.append(row);
  });
  table.append(rows);
  body.append(h("div", { class: "table-wrap" }, table));
  return { title: "Your pledges", body };
}

/** Asks before cancelling, in place of the button; the answer is announced in `status`. */
function confirmCancel(cell, p, title, status, navigate) {
  const refundNote = p.status === "paid" ? " Your payment will be refunded." : "";
  const key = api.newKey();
  const yes = h("button", { type: "button", class: "danger" }, "Yes, cancel it");
  const no = h("button", { type: "button", class: "secondary" }, "Keep it");
  const error = h("p", { class: "error", role: "alert" });
  const question = h("p", {}, `Cancel your ${formatPounds(p.amount_pence)} pledge to ${title}?${refundNote}`);
  const restore = () => navigate("/pledges", { replace: true });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    try {
      await api.post(`/pledges/${encodeURIComponent(p.id)}/cancel`, {}, { auth: true, headers: { "Idempotency-Key": key } });
      navigate("/pledges", { replace: true, message: `Your pledge to ${title} is cancelled.${refundNote}` });
    } catch (err) {
      yes.disabled = no.disabled = false;
      error.textContent = err.message;
    }
  });
  no.addEventListener("click", restore);
  cell.replaceChildren(h("div", { class: "confirm", role: "group", "aria-label": "Confirm cancellation" }, question, yes, " ", no, error));
  yes.focus();
  status.textContent = "";
}

export async function holdings() {
  const items = await api.get("/me/holdings", { auth: true });
  const body = h("div", {}, h("h1", { tabindex: "-1" }, "Your shareholdings"));
  if (!items.length) {
    body.append(h("p", {}, "You hold no shares yet. Shares are issued when an offer you pledged to succeeds and closes."));
    return { title: "Your shareholdings", body };
  }
  for (const holding of items) {
    body.append(
      h(
        "section",
        { class: "holding" },
        h("h2", {}, holding.society_name),
        h("p", { class: "lead" }, `${holding.shares} ${holding.shares === 1 ? "share" : "shares"}, ${formatPounds(holding.amount_pence)}`),
        h(
          "ul",
          {},
          holding.offers.map((o) => h("li", {}, `${o.title}: ${o.shares} shares (${formatPounds(o.amount_pence)}), issued ${formatDate(o.entered_at)}`)),
        ),
      ),
    );
  }
  return { title: "Your shareholdings", body };
}

// ---------------------------------------------------------------------------------------------
// Public fund pages and impact (no token; the API gives sums and counts, never an investor)

const enc = encodeURIComponent;
const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
const cell = (text, num = false) => h("td", { class: num ? "num" : null }, text);
/** A table's header row; the columns from `numeric` on hold amounts (aligned right). */
const heads = (numeric, ...titles) => h("thead", {}, h("tr", {}, titles.map((t, i) => h("th", { scope: "col", class: i >= numeric ? "num" : null }, t))));
/** A wide table that scrolls sideways on a narrow screen, reachable by keyboard to do so. */
const scrolling = (label, table) => h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" }, table);
const links = (...items) => h("ul", { class: "links" }, items.filter(Boolean).map((a) => h("li", {}, a)));

/** An outside link from API data (http(s) only), or null. */
function external(url, text = url) {
  const safe = url ? safeUrl(url) : null;
  return safe ? h("a", { href: safe, rel: "noopener noreferrer" }, text) : null;
}

/** The API's answer; a 404 says which thing is not there. */
async function found(path, what) {
  try {
    return await api.get(path);
  } catch (err) {
    if (err.status === 404) err.notFound = `There is no ${what} at this address. Check the link you followed.`;
    throw err;
  }
}

/** The transparency log's latest signed checkpoint: `{text}` or `{error}` (never fails the page). */
async function checkpoint() {
  try {
    return { text: await api.getText("/transparency/checkpoint") };
  } catch (err) {
    return { error: err.status === 404 ? "The log has no signed checkpoint yet: the first comes once public money moves." : `The checkpoint could not be loaded: ${err.message}` };
  }
}

export async function fund({ id }) {
  const path = `/funds/${enc(id)}`;
  const [f, note] = await Promise.all([found(`${path}/public`, "fund"), checkpoint()]);
  const titles = new Map(f.offers.map((o) => [o.offer_id, o.title]));
  const body = h(
    "article",
    { class: "fund" },
    h("p", { class: "society" }, `Match funding from ${f.funder.name}`),
    h("h1", { tabindex: "-1" }, f.name),
    h("p", { class: "lead" }, `How it matches: ${f.rule_text}.`),
    links(
      link(`#${path}/impact`, "What this fund's match money did"),
      link(`#/funders/${enc(f.funder.id)}/impact`, `The impact of every fund of ${f.funder.name}`),
    ),
    h("h2", {}, "The money"),
    h(
      "dl",
      { class: "terms totals" },
      row("Budget", formatPounds(f.budget_pence)),
      row("Committed to offers", formatPounds(f.committed_pence)),
      row("Matched to pledges", formatPounds(f.matched_pence)),
      row("Allocated as shares", formatPounds(f.allocated_pence)),
      row("Released back to the fund", formatPounds(f.released_pence)),
      row("Available to commit", formatPounds(f.available_pence)),
    ),
    h("h2", {}, "The funder"),
    h(
      "dl",
      { class: "terms funder" },
      row("Name", f.funder.name),
      row("Organisation identifier", f.funder.organisation_id ?? "Not given"),
      row("Website", external(f.funder.website) ?? "Not given"),
      f.funder.licence_url ? row("Open data licence", external(f.funder.licence_url) ?? f.funder.licence_url) : null,
    ),
    h("h2", {}, "Offers it backs"),
    fundOffers(f.offers),
    h("h2", {}, "Every transfer of its money"),
    transfers(f.transfers, titles),
    h("h2", {}, "Open data"),
    h("p", {}, "The fund's awards in the 360Giving Data Standard, and the transparency log, for anyone to download:"),
    links(
      f.offers.length ? h("a", { href: `/api/v1${path}/360giving.json` }, "This fund, 360Giving JSON") : null,
      f.offers.length ? h("a", { href: `/api/v1${path}/360giving.csv` }, "This fund, 360Giving CSV") : null,
      h("a", { href: "/api/v1/open-data/360giving.json" }, "Every fund on this site, 360Giving JSON"),
      h("a", { href: "/api/v1/open-data/360giving.csv" }, "Every fund on this site, 360Giving CSV"),
      h("a", { href: "/api/v1/transparency/export" }, "The transparency log, JSON export"),
      h("a", { href: "/api/v1/transparency/checkpoint" }, "The log's latest checkpoint, text"),
    ),
    h("h2", {}, "Verify this record"),
    h(
      "p",
      {},
      "Every transfer above is an entry in a public, append-only log, whose checkpoints the site signs and funders' witnesses cosign. " +
        "To check that the log holds every entry and was never rewritten, run ",
      h("code", {}, `community-shares transparency verify --from ${location.origin}`),
      ".",
    ),
    note.text ? [h("p", {}, "The log's latest signed checkpoint:"), h("pre", { class: "checkpoint" }, note.text)] : h("p", { class: "notice" }, note.error),
  );
  return { title: f.name, body };
}

function fundOffers(offers) {
  if (!offers.length) return h("p", {}, "This fund backs no public offer yet.");
  const rows = offers.map((o) =>
    h(
      "tr",
      { "data-offer": o.offer_id },
      h("th", { scope: "row" }, link(`#/offers/${enc(o.offer_id)}`, o.title)),
      h("td", {}, o.society_name, h("br"), h("span", { class: "meta" }, o.society_organisation_id)),
      cell(o.district ?? "—"),
      cell(offerStatus(o.offer_status)),
      cell(formatPounds(o.commitment_pence), true),
      cell(formatPounds(o.matched_pence), true),
      h("td", { class: "num" }, formatPounds(o.allocated_pence), h("br"), h("span", { class: "meta" }, `${o.funder_shares} ${o.funder_shares === 1 ? "share" : "shares"}`)),
      cell(formatPounds(o.released_pence), true),
    ),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "fund-offers" },
      h("caption", { class: "visually-hidden" }, "The offers this fund backs"),
      heads(4, "Offer", "Society", "District", "State", "Commitment", "Matched", "Allocated as the funder's shares", "Released"),
      h("tbody", {}, rows),
    ),
  );
}

function transfers(list, titles) {
  if (!list.length) return h("p", {}, "None of its money has moved yet.");
  const rows = list.map((t) =>
    h(
      "tr",
      {},
      cell(formatWhen(t.at)),
      cell(transferKind(t)),
      cell(t.offer_id ? titles.get(t.offer_id) ?? "An offer" : "—"),
      cell(transferState(t)),
      cell(formatPounds(t.amount_pence), true),
      cell(t.log_index ?? "Next checkpoint", true),
    ),
  );
  return scrolling(
    "Transfers",
    h(
      "table",
      { class: "transfers" },
      h("caption", { class: "visually-hidden" }, "Every transfer of the fund's money, oldest first"),
      heads(4, "When (UK time)", "What", "Offer", "State", "Amount", "Log entry"),
      h("tbody", {}, rows),
    ),
  );
}

export async function fundImpact({ id }) {
  const view = await found(`/funds/${enc(id)}/impact`, "fund");
  const name = view.funds[0]?.name ?? "this fund";
  return impactPage(view, `What ${name} did`, [
    link(`#/funds/${enc(id)}`, `The public page of ${name}`),
    link(`#/funders/${enc(view.funder.id)}/impact`, `The impact of every fund of ${view.funder.name}`),
  ]);
}

export async function funderImpact({ id }) {
  const view = await found(`/funders/${enc(id)}/impact`, "funder");
  return impactPage(
    view,
    `What ${view.funder.name}'s match funding did`,
    view.funds.map((f) => link(`#/funds/${enc(f.id)}`, `The public page of ${f.name}`)),
  );
}

function impactPage(view, title, related) {
  const i = view.impact;
  const months = i.by_month ?? [];
  const body = h(
    "div",
    { class: "impact" },
    h("p", { class: "society" }, `Match funding from ${view.funder.name}`),
    h("h1", { tabindex: "-1" }, title),
    links(...related),
    h(
      "dl",
      { class: "terms figures" },
      row("Match money given", formatPounds(i.matched_pence)),
      row("Community money brought in", formatPounds(i.community_pence)),
      row("Leverage", formatLeverage(i.leverage)),
      row("Investors", String(i.investors)),
      row("Investors local to the offer", formatShare(i.local_investor_share_bps, "Not known: no investor gave a postcode")),
      row("Median pledge", i.median_pledge_pence == null ? "No pledges yet" : formatPounds(i.median_pledge_pence)),
      row("Offers succeeded", String(i.offers_succeeded)),
      row("Offers failed", String(i.offers_failed)),
      row("Offers still open", String(i.offers_open)),
    ),
    h(
      "p",
      { class: "meta" },
      "Sums and counts only. Match money counts pledges still live, paid or allocated; community money counts the money paid and held (refunds are not counted).",
    ),
    h("h2", {}, "Month by month"),
    months.length ? [monthChart(months), monthTable(months)] : h("p", {}, "No pledges yet, so there is nothing to chart."),
  );
  return { title, body };
}

function monthTable(months) {
  const rows = months.map((m) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, formatMonth(m.month)),
      cell(formatPounds(m.community_pence), true),
      cell(formatPounds(m.matched_pence), true),
      cell(String(m.pledges), true),
    ),
  );
  return scrolling(
    "Figures by month",
    h(
      "table",
      { class: "months" },
      h("caption", {}, "The chart's figures, by the month the pledges were made (UK time)"),
      heads(1, "Month", "Community money", "Match money", "Pledges"),
      h("tbody", {}, rows),
    ),
  );
}
