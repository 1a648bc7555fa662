// Pure helpers for the funder console: a fund's rule in plain words (the same wording as the
// server's src/domain/matching/words.rs, so the rule builder says what the public page will say),
// the rule builder's parsing, and a simulation's and a second approval's words. No DOM, no
// network: unit-tested in tests/web/format.test.mjs.

import { formWords, formatDate, formatDateTime, formatPounds } from "./format.js";

const GROUPS = /\B(?=(\d{3})+(?!\d))/g;

/** Whole pounds without pence (`£1,250`), else pounds and pence (`£12.50`); under £1, pence (`50p`). */
export function ruleMoney(pence) {
  if (!Number.isSafeInteger(pence)) return "£?";
  if (pence >= 1 && pence < 100) return `${pence}p`;
  const sign = pence < 0 ? "-" : "";
  const abs = Math.abs(pence);
  const pounds = Math.floor(abs / 100).toString().replace(GROUPS, ",");
  const rest = abs % 100;
  return rest === 0 ? `${sign}£${pounds}` : `${sign}£${pounds}.${String(rest).padStart(2, "0")}`;
}

function ratio(num, den) {
  if (den !== 0 && (num * 100) % den === 0) return `${ruleMoney((num * 100) / den)} for every £1`;
  return `£${num} for every £${den}`;
}

function triggerWords(trigger = {}) {
  const n = trigger.min_investors;
  const by = Number.isSafeInteger(n) && n > 1 ? ` by at least ${n} investors` : "";
  const value = trigger.value ?? 0;
  switch (trigger.kind) {
    case "amount":
      return `, once ${ruleMoney(value)} is pledged${by}`;
    case "percent_of_target": {
      const percent = value % 100 === 0 ? `${value / 100}%` : `${Math.trunc(value / 100)}.${String(value % 100).padStart(2, "0")}%`;
      return `, once ${percent} of the target is pledged${by}`;
    }
    case "min_target":
      return `, once the offer's minimum target is pledged${by}`;
    default:
      return by ? `, once pledged${by}` : "";
  }
}

/** A rule (as the API writes it) in plain English, as the server says it. */
export function ruleWords(rule) {
  let text = rule.kind === "lump_sum"
    ? `a lump sum of ${ruleMoney(rule.lump_sum_pence ?? 0)}`
    : `${ratio(rule.ratio_num ?? 1, rule.ratio_den ?? 1)} pledged`;
  const offerCap = ruleMoney(rule.per_offer_cap_pence);
  text += rule.per_pledge_cap_pence != null
    ? `, up to ${ruleMoney(rule.per_pledge_cap_pence)} per investor and ${offerCap} per offer`
    : `, up to ${offerCap} per offer`;
  text += triggerWords(rule.trigger);
  const prefixes = rule.eligibility?.postcode_prefixes ?? [];
  if (prefixes.length) text += `, for investors in ${prefixes.join(", ")}`;
  if (rule.exclusive) text += "; no other fund may match the same offer";
  text += rule.timing === "at_close" ? "; decided when the offer closes" : "; matched as pledges arrive";
  return text;
}

/** "2,500" or "£2,500.50" → pence; "" → null; anything else → NaN (the API names the field). */
export function poundsOrNull(text) {
  const cleaned = String(text ?? "").trim().replace(/^£/, "").replace(/[\s,]/g, "");
  if (cleaned === "") return null;
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** "3" → 3; "" → null; anything else → NaN. */
export function wholeOrNull(text) {
  const cleaned = String(text ?? "").trim();
  if (cleaned === "") return null;
  return /^\d{1,15}$/.test(cleaned) ? Number(cleaned) : NaN;
}

/** "25" or "12.5" (percent) → basis points (2500, 1250); "" → null; else NaN. */
export function percentToBps(text) {
  const cleaned = String(text ?? "").trim().replace(/%$/, "");
  if (cleaned === "") return null;
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** "GL5, gl6 1" → ["GL5", "GL6 1"]. */
export function prefixList(text) {
  return String(text ?? "").split(",").map((p) => p.trim().replace(/\s+/g, " ").toUpperCase()).filter(Boolean);
}

/**
 * The rule builder's values (strings, as typed) → `{ name, budget_pence, rule }` for the API.
 * What cannot be read is sent as it is read (NaN becomes null in JSON), so the API's messages
 * name the field; `problems` lists what the page itself can say before sending.
 */
export function fundBody(v) {
  const kind = v.kind === "lump_sum" ? "lump_sum" : "per_pledge";
  const triggerKind = v.trigger_kind || "none";
  let value = null;
  if (triggerKind === "amount") value = poundsOrNull(v.trigger_value);
  else if (triggerKind === "percent_of_target") value = percentToBps(v.trigger_value);
  const rule = {
    kind,
    ratio_num: kind === "per_pledge" ? wholeOrNull(v.ratio_num) : null,
    ratio_den: kind === "per_pledge" ? wholeOrNull(v.ratio_den) : null,
    lump_sum_pence: kind === "lump_sum" ? poundsOrNull(v.lump_sum) : null,
    per_pledge_cap_pence: poundsOrNull(v.per_pledge_cap),
    per_offer_cap_pence: poundsOrNull(v.per_offer_cap),
    trigger: { kind: triggerKind, value, min_investors: wholeOrNull(v.min_investors) },
    eligibility: { postcode_prefixes: prefixList(v.postcode_prefixes) },
    exclusive: Boolean(v.exclusive),
    timing: v.timing === "at_close" ? "at_close" : "live",
  };
  const problems = [];
  const check = (field, x, what) => Number.isNaN(x) && problems.push({ field, message: what });
  check("budget_pence", poundsOrNull(v.budget), "Enter an amount in pounds, like 10000 or 10,000.00");
  check("rule.ratio_num", rule.ratio_num, "Enter a whole number, like 1");
  check("rule.ratio_den", rule.ratio_den, "Enter a whole number, like 1");
  check("rule.lump_sum_pence", rule.lump_sum_pence, "Enter an amount in pounds");
  check("rule.per_pledge_cap_pence", rule.per_pledge_cap_pence, "Enter an amount in pounds");
  check("rule.per_offer_cap_pence", rule.per_offer_cap_pence, "Enter an amount in pounds");
  check("rule.trigger.value", rule.trigger.value, triggerKind === "amount" ? "Enter an amount in pounds" : "Enter a percentage, like 25");
  check("rule.trigger.min_investors", rule.trigger.min_investors, "Enter a whole number");
  // The API counts a percentage in basis points (1 to 10000): its message would not say what was typed.
  if (triggerKind === "percent_of_target" && Number.isInteger(value) && (value < 1 || value > 10_000)) {
    problems.push({ field: "rule.trigger.value", message: "Enter a percentage between 0.01 and 100" });
  }
  return { body: { name: String(v.name ?? "").trim(), budget_pence: poundsOrNull(v.budget), rule }, problems };
}

/** The rule builder's restatement as you type: the rule in words, or what is still missing. */
export function draftWords(v) {
  const { body, problems } = fundBody(v);
  const r = body.rule;
  if (problems.length) return "Finish the rule to see it in words.";
  if (r.per_offer_cap_pence === null) return "Set a cap per offer to see the rule in words.";
  if (r.kind === "per_pledge" && (!r.ratio_num || !r.ratio_den)) return "Set the match ratio to see the rule in words.";
  if (r.kind === "lump_sum" && r.lump_sum_pence === null) return "Set the lump sum to see the rule in words.";
  return ruleWords(r);
}

/**
 * A simulation (`POST /funds/{id}/simulate`) in words: its total, the cap per investor, where
 * the rule's trigger is met (`trigger_met_after` pledges in; `null`: not met by the current
 * pledges), and the chart's text alternative, which names both of the chart's lines.
 */
export function simulationWords(sim) {
  const pledges = sim.per_pledge ?? [];
  const n = pledges.length;
  const total = pledges.reduce((sum, p) => sum + p.amount_pence, 0);
  const cap = sim.per_investor_cap_pence ?? null;
  const after = sim.trigger_met_after ?? null;
  const summary = `A match of ${formatPounds(sim.match_pence)} over ${n} ${n === 1 ? "pledge" : "pledges"} totalling ${formatPounds(total)}.`;
  const trigger = after === null
    ? "Not met yet by the current pledges: nothing is matched until it is"
    : after === 0 ? "Met from the start" : `Met after pledge ${after} of ${n}`;
  const biggest = Math.max(0, ...pledges.map((p) => p.match_pence));
  const capLine = cap === null ? "There is no cap per investor." : `A dashed line marks the cap per investor, ${formatPounds(cap)}.`;
  const triggerLine = after === null
    ? "The trigger is not met yet by the current pledges, so nothing is matched."
    : after === 0 ? "The trigger is met from the start (a dotted line before the first pledge)." : `A dotted line after pledge ${after} marks where the trigger is met.`;
  return {
    summary,
    cap: cap === null ? "None" : formatPounds(cap),
    trigger,
    desc: `${summary} The largest match for one pledge is ${formatPounds(biggest)}. ${capLine} ${triggerLine} The table below lists each pledge.`,
  };
}

/**
 * A second approval (an application's `confirmation`) in words: who approved first and who
 * answered, by name, "(you)" after the reader's own.
 */
export function confirmationWords(c, meId) {
  const who = (id, name) => `${name || "another admin"}${id && id === meId ? " (you)" : ""}`;
  const asked = `Approved by ${who(c.requested_by, c.requested_by_name)} at ${formatDateTime(c.requested_at)} for ${formatPounds(c.commitment_pence)}`;
  const answered = (verb) => `${verb} by ${who(c.resolved_by, c.resolved_by_name)}${c.resolved_at ? ` at ${formatDateTime(c.resolved_at)}` : ""}`;
  switch (c.state) {
    case "awaiting":
      return `${asked}, awaiting a second admin.`;
    case "confirmed":
      return `${answered("Confirmed")}. ${asked}.`;
    case "declined":
      return `${answered("Declined")}.${c.reason ? ` Reason: ${c.reason.trim().replace(/([^.!?])$/, "$1.")}` : ""} ${asked}.`;
    case "released":
      return `${asked}; released before a second admin answered (the offer ended, or the application was rejected): the money held went back to the fund.`;
    default:
      return `${asked}.`;
  }
}

const STATUS = { pending: "Waiting for a decision", approved: "Approved", rejected: "Rejected", released: "Released (returned to the fund)" };

/** An application's state as a funder's admins read it: an approval awaiting a second admin says so. */
export function applicationStatus(app) {
  if (app.status === "pending" && app.confirmation?.state === "awaiting") return "Approved by one admin, awaiting a second admin's confirmation";
  return STATUS[app.status] ?? app.status;
}

/** The API's names (and units) in its messages on a fund, in the rule builder's words. */
const FUND_WORDS = {
  "a per_pledge rule needs ratio_num and ratio_den between 1 and 100": "both amounts of the match must be whole pounds from 1 to 100",
  "a lump_sum rule needs lump_sum_pence above zero": "the lump sum must be more than £0",
  "an amount trigger needs a value in pence above zero": "the amount must be more than £0",
  "a percent_of_target trigger needs a value in basis points, 1 to 10000": "the percentage must be between 0.01 and 100",
  budget_pence: "the budget",
  ratio_num: "the pounds the fund gives",
  ratio_den: "the pounds pledged",
  lump_sum_pence: "the lump sum",
  per_pledge_cap_pence: "the cap per investor",
  per_offer_cap_pence: "the cap per offer",
  min_investors: "the number of investors",
  threshold_pence: "the second approval amount",
  commitment_pence: "the commitment",
};

/** A fund API message in the funder console's words: "…in basis points, 1 to 10000" → "…between 0.01 and 100". */
export const fundWords = (message) => formWords(message, FUND_WORDS);

/** A funder's admin (`GET /funders/{id}/admins`), after their name and email: since when, and who brought them in. */
export function adminWords(a) {
  return `admin since ${formatDate(a.since)}${a.invited_by_name ? `, invited by ${a.invited_by_name}` : ""}`;
}

/**
 * An open invitation to be a funder's admin, in words: whether it waits for a second admin to
 * agree or for the person to accept, and who asked (and agreed), when.
 */
export function invitationStatusWords(inv) {
  const on = ` on ${formatDate(inv.created_at)}`;
  const by = inv.invited_by_name ? ` by ${inv.invited_by_name}` : "";
  if (inv.status === "awaiting_second_admin") return `Waiting for a second admin of this funder to agree. Asked${by}${on}.`;
  const agreed = inv.seconded_by_name ? `, agreed by ${inv.seconded_by_name},` : "";
  return `Waiting for them to accept. Invited${by}${agreed}${on}.`;
}

/** Whether approving on this funder can happen at all: it needs a second admin (`admins` as listed). */
export const needsSecondAdmin = (admins) => Array.isArray(admins) && admins.length < 2;
