// Pure helpers for money, shares and dates. No DOM, no network: unit-tested with `node --test`
// (tests/web/format.test.mjs). Money is always integer pence, as in the API.

const GROUPS = /\B(?=(\d{3})+(?!\d))/g;

/** 123456 → "£1,234.56"; -500 → "−£5.00". */
export function formatPounds(pence) {
  if (!Number.isSafeInteger(pence)) return "—";
  const sign = pence < 0 ? "−" : "";
  const abs = Math.abs(pence);
  const pounds = Math.floor(abs / 100).toString().replace(GROUPS, ",");
  const rest = (abs % 100).toString().padStart(2, "0");
  return `${sign}£${pounds}.${rest}`;
}

/**
 * What an investor typed as an amount in pounds → `{pence}` or `{error}`.
 * Accepts "250", "250.5", "250.50", "£1,250.00" and spaces; never goes through floating point.
 */
export function parsePounds(text) {
  const cleaned = String(text ?? "").trim().replace(/^£/, "").replace(/[\s,]/g, "");
  if (cleaned === "") return { error: "Enter an amount in pounds, like 250 or 250.00" };
  const match = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!match) return { error: "Enter an amount in pounds, like 250 or 250.00" };
  const pounds = Number(match[1]);
  const pence = Number((match[2] ?? "").padEnd(2, "0"));
  return { pence: pounds * 100 + pence };
}

/** Pence as the plain amount a form field shows: 25000 → "250.00". */
export function poundsInput(pence) {
  return `${Math.floor(pence / 100)}.${(pence % 100).toString().padStart(2, "0")}`;
}

/** Whole shares an amount buys, and what is left over. */
export function sharesFor(pence, sharePricePence) {
  if (!(sharePricePence > 0) || !(pence >= 0)) return { shares: 0, remainder: 0 };
  return { shares: Math.floor(pence / sharePricePence), remainder: pence % sharePricePence };
}

/** How much more an investor may pledge to an offer given their live pledges to it. */
export function holdingRoom(offer, livePledgedPence) {
  const room = Math.max(0, offer.max_holding_pence - livePledgedPence);
  const minimumNow = Math.max(0, offer.min_holding_pence - livePledgedPence);
  return { room, minimumNow };
}

/**
 * The widths (percent of the bar, which is the offer's maximum) of the community and match
 * segments, and where the minimum and target marks go. Segments never exceed the bar together.
 */
export function progress(offer) {
  const max = Math.max(1, offer.max_target_pence);
  const pct = (v) => Math.min(100, Math.max(0, (v / max) * 100));
  const community = pct(offer.community_pledged_pence);
  const match = Math.min(100 - community, pct(offer.match_pence));
  return {
    community,
    match,
    minimum: pct(offer.min_target_pence),
    target: pct(offer.target_pence),
  };
}

// People are shown UK time (Europe/London: GMT in winter, BST in summer), as the emails do;
// the API speaks UTC.
const DATE = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "Europe/London" });
const TIME = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "Europe/London" });

/** "2026-12-24T10:00:00Z" → "24 December 2026" (UK time). */
export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : DATE.format(d);
}

/** "2027-04-30T22:59:00Z" → "23:59 on 30 April 2027 (UK time)". */
export function formatDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : `${TIME.format(d)} on ${DATE.format(d)} (UK time)`;
}

/** "2026-12-24T10:00:00Z" → "24 December 2026, 10:00" (UK time; for tables that say so). */
export function formatWhen(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : `${DATE.format(d)}, ${TIME.format(d)}`;
}

/** 300 basis points → "3%"; 275 → "2.75%". */
export function formatRate(bps) {
  const whole = Math.floor(bps / 100);
  const frac = bps % 100;
  return frac === 0 ? `${whole}%` : `${whole}.${frac.toString().padStart(2, "0").replace(/0$/, "")}%`;
}

/** A sort code as people write it: "123456" → "12-34-56". */
export function formatSortCode(code) {
  return /^\d{6}$/.test(code) ? `${code.slice(0, 2)}-${code.slice(2, 4)}-${code.slice(4)}` : code;
}

/** Only http(s) links are followed from API data (never `javascript:` and the like). */
export function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

const STATUS_WORDS = {
  pending: "Awaiting payment",
  paid: "Paid",
  cancelled: "Cancelled",
  expired: "Expired (not paid in time)",
  refunded: "Refunded",
  allocated: "Shares issued",
};

/** A pledge status as investors read it. */
export function pledgeStatus(status) {
  return STATUS_WORDS[status] ?? status;
}

/** Whether the investor may cancel a pledge now. */
export function cancellable(pledge, now = Date.now()) {
  if (pledge.status === "pending") return true;
  return pledge.status === "paid" && new Date(pledge.cancellable_until).getTime() > now;
}

/**
 * What has come of a pending pledge paid in parts by bank transfer: "£100.00 received, £150.00
 * still to pay", or "" when nothing has come yet (or it is not pending).
 */
export function partPaid(pledge) {
  const received = pledge.received_pence ?? 0;
  if (pledge.status !== "pending" || !(received > 0)) return "";
  return `${formatPounds(received)} received, ${formatPounds(pledge.amount_pence - received)} still to pay`;
}

// ---------------------------------------------------------------------------------------------
// Public fund pages and impact

/** A leverage ("3.25", or null before any match) in words. */
export function formatLeverage(leverage) {
  if (!/^\d+\.\d\d$/.test(leverage ?? "")) return "None yet: no match has been given";
  const [pounds, pence] = leverage.split(".");
  return `${formatPounds(Number(pounds) * 100 + Number(pence))} of community money per £1 of match`;
}

/** A share in basis points as a percentage (3333 → "33.33%"), or `none` when null. */
export function formatShare(bps, none = "—") {
  return Number.isSafeInteger(bps) ? formatRate(bps) : none;
}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** "2026-11" (a UK month, as the API gives it) → "November 2026"; short: "Nov 2026". */
export function formatMonth(month, { short = false } = {}) {
  const m = /^(\d{4})-(\d{2})$/.exec(month ?? "");
  const name = m && MONTHS[Number(m[2]) - 1];
  if (!name) return String(month ?? "—");
  return `${short ? name.slice(0, 3) : name} ${m[1]}`;
}

const OFFER_WORDS = {
  draft: "Draft",
  submitted: "Submitted, waiting for approval",
  approved: "Approved, opens at its opening time",
  open: "Open",
  closed: "Closed, being counted",
  succeeded: "Succeeded",
  allocated: "Succeeded, shares issued",
  failed: "Failed",
  refunded: "Failed, money refunded",
  cancelled: "Cancelled",
};

/** An offer's state as people read it (the consoles' words too: draft, submitted, approved). */
export function offerStatus(status) {
  return OFFER_WORDS[status] ?? status;
}

const TRANSFER_WORDS = {
  "budget single": "Budget paid into the fund",
  "commitment single": "Committed to the offer",
  "match pending": "Match reserved for a pledge",
  "match post": "Match made final when shares were issued",
  "match void": "Match undone (pledge cancelled, expired or refunded, or offer failed)",
  "release single": "Commitment returned to the fund",
};

/** A ledger transfer of fund money (`kind`, `phase`) in words. */
export function transferKind({ kind, phase }) {
  return TRANSFER_WORDS[`${kind} ${phase}`] ?? `${kind} (${phase})`;
}

/** Where a transfer stands: only a reserved match may still change. */
export function transferState({ phase, state }) {
  if (state === "pending") return "Reserved, not yet final";
  if (phase === "pending") return state === "posted" ? "Made final" : state === "voided" ? "Undone" : state;
  return "Final";
}

/**
 * A chart's money axis for values up to `pence`: its top, the smallest 1, 2 or 5 × 10ⁿ pounds
 * at or above them (£1 at least), and evenly spaced round ticks from 0 to the top (in pence).
 */
export function chartScale(pence) {
  for (let magnitude = 100; ; magnitude *= 10) {
    for (const [factor, steps] of [[1, 5], [2, 4], [5, 5]]) {
      const top = factor * magnitude;
      if (top >= pence) return { top, ticks: Array.from({ length: steps + 1 }, (_, i) => (top / steps) * i) };
    }
  }
}

/** An axis label: whole pounds without pence ("£20,000"), smaller amounts with ("£0.20"). */
export function formatAxisPounds(pence) {
  return pence % 100 === 0 ? formatPounds(pence).slice(0, -3) : formatPounds(pence);
}

/** The words a chart of `by_month` (community and match money per month) stands for. */
export function chartSummary(months) {
  if (!months?.length) return "No pledges yet.";
  const sum = (key) => months.reduce((total, m) => total + m[key], 0);
  const first = formatMonth(months[0].month);
  const last = formatMonth(months.at(-1).month);
  const when = months.length === 1 ? `In ${first}` : `From ${first} to ${last}`;
  const best = months.reduce((a, b) => (b.community_pence > a.community_pence ? b : a));
  const most = months.length > 1 && best.community_pence > 0 ? ` The most community money came in ${formatMonth(best.month)}: ${formatPounds(best.community_pence)}.` : "";
  return `${when}, ${formatPounds(sum("community_pence"))} of community money and ${formatPounds(sum("matched_pence"))} of match money came in.${most}`;
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * An API message in the words of the form that shows it: each key of `words` (an API field name
 * such as `min_target_pence`, or a phrase in the API's units) found as a whole word is replaced
 * by its value, in the order given (so put whole phrases before the names inside them).
 */
export function formWords(message, words) {
  let text = String(message ?? "");
  for (const [from, to] of Object.entries(words)) {
    // (No lookbehind: older Safari lacks it.)
    text = text.replace(new RegExp(`(^|\\W)${escapeRegExp(from)}(?!\\w)`, "g"), (_, before) => before + to);
  }
  return text;
}

/**
 * What adding an admin did (the API's 202 `{status}`), as the form that asked says it:
 * `invited`, the person must now accept; `awaiting_second_admin`, another of the funder's admins
 * must add the same email to agree.
 */
export function invitationSentWords(status, email) {
  if (status === "awaiting_second_admin") return `Waiting for a second admin of this funder to agree: ask another admin to add ${email} too.`;
  return `Invitation sent to ${email}: they must accept it on their page.`;
}

/** An invitation waiting for its invitee (`GET /me/invitations`), in one line. */
export function invitationWords(inv) {
  const what = inv.kind === "society" ? "society" : "funder";
  const by = inv.invited_by_name ? ` — invited by ${inv.invited_by_name} on ${formatDate(inv.created_at)}` : ` — invited on ${formatDate(inv.created_at)}`;
  return `Join ${inv.organisation_name} as an admin of this ${what}${by}`;
}

/** Where an admin of an organisation works: its console. */
export function consoleHref(kind, id) {
  return kind === "society" ? `#/console/societies/${encodeURIComponent(id)}` : `#/funder/${encodeURIComponent(id)}`;
}
