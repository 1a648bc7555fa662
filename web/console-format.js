// Pure helpers of the society console (no DOM, no network; tested by tests/web/format.test.mjs).
// Money is integer pence; dates typed by people are UK wall-clock times (Europe/London).

import { formWords, formatDate, formatPounds, parsePounds, partPaid, pledgeStatus } from "./format.js";

/** A sort code as typed ("12-34-56", "12 34 56", "123456") → `{value: "123456"}` or `{error}`. */
export function parseSortCode(text) {
  const digits = String(text ?? "").replace(/[\s-]/g, "");
  if (digits === "") return { error: "Enter the sort code, like 12-34-56" };
  if (!/^\d+$/.test(digits)) return { error: "A sort code has digits only, like 12-34-56" };
  if (digits.length !== 6) return { error: `A sort code has 6 digits; this has ${digits.length}` };
  return { value: digits };
}

/** An account number as typed → `{value: "12345678"}` or `{error}` (UK accounts have 8 digits). */
export function parseAccountNumber(text) {
  const digits = String(text ?? "").replace(/[\s-]/g, "");
  if (digits === "") return { error: "Enter the account number" };
  if (!/^\d+$/.test(digits)) return { error: "An account number has digits only" };
  if (digits.length !== 8) return { error: `An account number has 8 digits; this has ${digits.length}` };
  return { value: digits };
}

/** "3", "2.75", "2.5%" → basis points (300, 275, 250), or `{error}`; never through floats. */
export function parsePercent(text) {
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(String(text ?? "").trim().replace(/%$/, "").trim());
  if (!m) return { error: "Enter a percentage, like 3 or 2.75" };
  return { bps: Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0")) };
}

/** A whole number of days or years as typed → `{value}` or `{error}`. */
export function parseWhole(text, what = "a whole number") {
  const t = String(text ?? "").trim();
  return /^\d{1,4}$/.test(t) ? { value: Number(t) } : { error: `Enter ${what}` };
}

const PARTS = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/London", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function londonParts(ms) {
  const p = Object.fromEntries(PARTS.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

/** An instant (RFC 3339) → the value of a `datetime-local` input in UK time ("2026-12-01T09:00"). */
export function ukInput(iso) {
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return "";
  const { date, time } = londonParts(ms);
  return `${date}T${time}`;
}

/** A UK wall-clock time ("2026-07-01T09:00", from a `datetime-local` input) → RFC 3339 UTC, or null. */
export function ukToIso(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(String(local ?? ""));
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // London is UTC+1 or UTC: keep the first that reads back as typed (in the repeated autumn
  // hour, the earlier).
  for (const offset of [60, 0]) {
    const ms = wall - offset * 60_000;
    if (ukInput(new Date(ms).toISOString()) === local) return new Date(ms).toISOString().replace(".000Z", "Z");
  }
  // A time that does not exist (the hour skipped when clocks go forward): an hour later.
  return new Date(wall).toISOString().replace(".000Z", "Z");
}

/**
 * A day and time as people type it in the UK ("1/12/2026 09:00", "01/12/2026 9.30", or
 * "2026-12-01 09:00") → the UK wall-clock value "2026-12-01T09:00", or null when not a real time.
 */
export function parseUkDateTime(text) {
  const t = String(text ?? "").trim().replace(/\s*(?:,|at)?\s+/i, " ");
  let m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2})[:.](\d{2})$/.exec(t);
  const parts = m ? [m[3], m[2], m[1], m[4], m[5]] : (m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$/.exec(t)) && m.slice(1);
  if (!parts) return null;
  const [y, mo, d, hh, mm] = parts.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || hh > 23 || mm > 59) return null;
  const two = (n) => String(n).padStart(2, "0");
  return `${y}-${two(mo)}-${two(d)}T${two(hh)}:${two(mm)}`;
}

/** An instant (RFC 3339) as the offer form shows it: "01/12/2026 09:00" (UK time). */
export function ukText(iso) {
  const local = ukInput(iso);
  return local ? `${local.slice(8, 10)}/${local.slice(5, 7)}/${local.slice(0, 4)} ${local.slice(11)}` : "";
}

/** A UK date ("2026-12-01") at midday UK time, as RFC 3339 (a bank receipt's day). */
export function ukDayToIso(day) {
  return /^\d{4}-\d{2}-\d{2}$/.test(day ?? "") ? ukToIso(`${day}T12:00`) : null;
}

const MONEY = ["share_price", "min_target", "target", "max_target", "min_holding", "max_holding"];

/**
 * The offer form's rules, checked as people type: `values` holds the typed text of each field
 * (money in pounds). Returns `[{rule, ok}]` in the order the form shows them; `ok` is null while
 * a field the rule needs is not yet readable.
 */
export function offerRules(values, individualCap = 10_000_000) {
  const p = {};
  for (const name of MONEY) {
    const parsed = parsePounds(values[name]);
    p[name] = parsed.error ? null : parsed.pence;
  }
  const have = (...names) => names.every((n) => p[n] !== null && p[n] !== undefined);
  const whole = (n) => p[n] % p.share_price === 0;
  const rules = [];
  const add = (rule, ok) => rules.push({ rule, ok });
  add("The share price is at least 1p", have("share_price") ? p.share_price >= 1 : null);
  const amounts = MONEY.slice(1).filter((n) => have(n));
  add(
    "Every target and holding is a whole number of shares",
    have("share_price") && p.share_price >= 1 && amounts.length ? amounts.every(whole) : null,
  );
  add("Minimum ≤ target ≤ maximum", have("min_target", "target", "max_target") ? p.min_target <= p.target && p.target <= p.max_target : null);
  add("Smallest holding ≤ largest holding", have("min_holding", "max_holding") ? p.min_holding <= p.max_holding : null);
  add(`Largest holding at most ${formatPounds(individualCap)} (the legal limit for one member)`, have("max_holding") ? p.max_holding <= individualCap : null);
  add("Smallest holding ≤ the maximum", have("min_holding", "max_target") ? p.min_holding <= p.max_target : null);
  const opens = ukToIso(parseUkDateTime(values.opens_at));
  const closes = ukToIso(parseUkDateTime(values.closes_at));
  const days = opens && closes ? (Date.parse(closes) - Date.parse(opens)) / 86_400_000 : null;
  add("Closes after it opens, and within 180 days (UK time)", days === null ? null : days > 0 && days <= 180);
  const cooling = parseWhole(values.cooling_off_days);
  add("Cooling-off between 0 and 30 days", cooling.error ? null : cooling.value <= 30);
  const rate = parsePercent(values.interest_rate);
  add("Interest between 0% and 100%", rate.error ? null : rate.bps <= 10_000);
  return rules;
}

/** "GL5, gl6 1, SN" → ["GL5", "GL6 1", "SN"] (local areas as postcode beginnings). */
export function parsePrefixes(text) {
  return String(text ?? "")
    .split(/[,;\n]/)
    .map((s) => s.trim().toUpperCase().replace(/\s+/g, " "))
    .filter(Boolean);
}

const IMPORT_WORDS = {
  paid: "Pays the pledge in full",
  part_payment: "Part payment",
  over_payment: "Pays it, with an excess to pay back",
  owed_back: "Owed back (nothing was owed)",
  already_imported: "Already imported",
  recorded_by_hand: "Already recorded by hand",
};

/** A statement line's outcome in words. */
export const importOutcome = (outcome) => IMPORT_WORDS[outcome] ?? outcome;

/**
 * What recording a bank receipt by hand did (`sent` is what was sent, `answer` the API's 201): on
 * an offer holding match money it counts only once a second admin confirms it.
 */
export function receiptRecordedWords(sent, answer) {
  const amount = formatPounds(sent.amount_pence);
  if (answer.receipt?.status === "awaiting_confirmation") {
    return `Recorded ${amount} for ${sent.reference}: it counts once another admin of the society confirms it (this offer has match funding, so a receipt typed by hand needs a second person).`;
  }
  const words = answer.status === "paid" ? "The pledge is paid in full." : partPaid(answer) ? `Part payment recorded: ${partPaid(answer)}.` : `The pledge is ${pledgeStatus(answer.status).toLowerCase()}.`;
  return `Recorded ${amount} against ${sent.reference}. ${words}`;
}

/** A receipt typed by hand that waits for a second admin (one of a pledge's `awaiting_confirmation`). */
export const awaitingReceiptWords = (r) => `${formatPounds(r.amount_pence)} received on ${formatDate(r.received_at)}, typed by hand: awaiting a second admin's confirmation`;

/** An API refusal's detail as a sentence: "you typed this receipt: …" → "You typed this receipt: ….". */
export function asSentence(text) {
  const t = String(text ?? "").trim();
  return t ? t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".") : "";
}

/** How many receipts typed by hand wait for a second admin, or "" for none. */
export function awaitingCountWords(n) {
  if (!(n > 0)) return "";
  return n === 1 ? "1 receipt typed by hand awaits a second admin's confirmation" : `${n} receipts typed by hand await a second admin's confirmation`;
}

/** The API's names (and units) in its offer messages, in the offer form's words. */
const OFFER_WORDS = {
  "between 0 and 10000 (100%)": "between 0% and 100%",
  "set them (PUT /api/v1/societies/{id}/bank-details)": "set them on the society's page",
  share_price_pence: "the share price",
  min_target_pence: "the minimum to go ahead",
  max_target_pence: "the maximum",
  target_pence: "the target",
  min_holding_pence: "the smallest holding",
  max_holding_pence: "the largest holding",
  opens_at: "the opening time",
  closes_at: "the closing time",
  cooling_off_days: "the cooling-off period",
  interest_rate_bps: "the target interest",
  document_url: "the offer document link",
  min_age: "the minimum age",
  postcode_prefixes: "the local areas",
  bank_details: "the bank details",
};

/** An offer API message in the form's words: "must not be below min_target_pence" → "… below the minimum to go ahead". */
export const offerWords = (message) => formWords(message, OFFER_WORDS);
