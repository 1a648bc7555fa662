// Pure helpers for the platform console: what approving or closing an offer does, the ledger
// check's verdict and an email's kind, in words. No DOM, no network: unit-tested in
// tests/web/format.test.mjs.

import { formatDateTime, formatPounds } from "./format.js";

/** An email's kind as people read it: "pledge_received" → "Pledge received". */
export function emailKind(kind) {
  const words = String(kind ?? "").replace(/[_.-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "—";
}

/**
 * What approving a submitted offer does, as of `now` (ms): the scheduler opens it at its
 * opening time (at once when that has passed) and it takes pledges until it closes.
 */
export function approvalWords(offer, now = Date.now()) {
  const opens = new Date(offer.opens_at).getTime();
  const until = `it then takes pledges until ${formatDateTime(offer.closes_at)}`;
  const when = opens > now
    ? `The scheduler opens it to investors at ${formatDateTime(offer.opens_at)}; ${until}.`
    : `Its opening time (${formatDateTime(offer.opens_at)}) has passed, so the scheduler opens it to investors straight away; ${until}.`;
  return `Approving lets it open. ${when} Until it opens only its society's admins and platform admins can see it; its society can still cancel it.`;
}

/**
 * What closing an open offer early does, in sentences: it stops taking pledges now, and the
 * close-out decides it against the minimum target (paid pledges plus match, once every unpaid
 * pledge is paid or has expired), then allocates shares or refunds.
 */
export function closeWords(offer) {
  const paid = offer.community_paid_pence;
  const raised = paid + offer.match_pence;
  const unpaid = offer.community_pledged_pence - paid;
  const reached = raised >= offer.min_target_pence;
  return [
    `It stops taking pledges now, instead of at ${formatDateTime(offer.closes_at)}. This cannot be undone.`,
    `The close-out then waits until every unpaid pledge (${formatPounds(unpaid)} now) is paid or has expired, and decides it against its minimum target of ${formatPounds(offer.min_target_pence)}: paid pledges plus match funding.`,
    `So far ${formatPounds(paid)} is paid and ${formatPounds(offer.match_pence)} matched, ${formatPounds(raised)} in all: ${reached ? "enough to succeed" : `${formatPounds(offer.min_target_pence - raised)} short of the minimum`}.`,
    "If it reaches the minimum, shares are allocated to its investors (and to funders whose match becomes shares); if not, it fails, every paid pledge is refunded and the match funding returns to the funds.",
  ];
}

/**
 * The ledger check (`GET /admin/ledger/verify`) in words: a headline and what was checked.
 * Payment disagreements do not unbalance the ledger, but a person must look at them.
 */
export function verdictWords(v) {
  const problems = v.problems?.length ?? 0;
  const disagreements = v.payment_disagreements?.length ?? 0;
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const checked = `${plural(v.accounts_checked, "account", "accounts")} and ${plural(v.transfers_checked, "transfer", "transfers")} checked`;
  const headline = v.balanced ? "The ledger is balanced" : "The ledger is not balanced";
  const found = problems ? `${plural(problems, "problem", "problems")} found` : "no problem found";
  const look = disagreements ? ` ${plural(disagreements, "card payment disagrees", "card payments disagree")} with what the payment provider last said: a person must look.` : "";
  return { headline, detail: `${checked}; ${found}.${look}` };
}

/** An offer's money so far against its targets, in one line (for the open offers list). */
export function progressWords(offer) {
  const raised = offer.community_pledged_pence + offer.match_pence;
  const investors = `${offer.investor_count} ${offer.investor_count === 1 ? "investor" : "investors"}`;
  return `${formatPounds(raised)} raised (${formatPounds(offer.community_pledged_pence)} pledged, ${formatPounds(offer.match_pence)} match) by ${investors}, of a ${formatPounds(offer.target_pence)} target; minimum ${formatPounds(offer.min_target_pence)}.`;
}
