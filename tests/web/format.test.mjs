// Unit tests of the page's pure helpers (web/format.js), run with `node --test` by tests/api/web.rs.
import test from "node:test";
import assert from "node:assert/strict";
import {
  chartScale, chartSummary, formatAxisPounds, formatLeverage, formatMonth, formatShare, formatWhen, formWords, offerStatus,
  transferKind, transferState,
  formatDate, formatDateTime,
  cancellable, formatPounds, formatRate, formatSortCode, holdingRoom, parsePounds, partPaid, poundsInput, progress, safeUrl,
  sharesFor,
} from "../../web/format.js";

test("a pledge paid in parts says what has come and what is still to pay", () => {
  assert.equal(partPaid({ status: "pending", amount_pence: 25000, received_pence: 10000 }), "£100.00 received, £150.00 still to pay");
  assert.equal(partPaid({ status: "pending", amount_pence: 25000, received_pence: 0 }), "");
  assert.equal(partPaid({ status: "pending", amount_pence: 25000 }), "");
  assert.equal(partPaid({ status: "paid", amount_pence: 25000, received_pence: 25000 }), "");
});

test("pounds are shown as £1,234.56", () => {
  assert.equal(formatPounds(123456), "£1,234.56");
  assert.equal(formatPounds(0), "£0.00");
  assert.equal(formatPounds(5), "£0.05");
  assert.equal(formatPounds(100000000000), "£1,000,000,000.00");
  assert.equal(formatPounds(-500), "−£5.00");
  assert.equal(formatPounds(1.5), "—");
});

test("typed pounds become exact pence, never through floating point", () => {
  assert.deepEqual(parsePounds("250"), { pence: 25000 });
  assert.deepEqual(parsePounds("250.5"), { pence: 25050 });
  assert.deepEqual(parsePounds(" £1,250.07 "), { pence: 125007 });
  assert.deepEqual(parsePounds("0.29"), { pence: 29 }); // 0.29 * 100 is 28.999… in floats
  for (const bad of ["", "abc", "1.234", "-5", "1e3", "£", "12..5"]) {
    assert.ok(parsePounds(bad).error, `${bad} is refused`);
  }
  // Every amount of pence survives the round trip through the form field.
  for (const pence of [0, 1, 99, 100, 12345, 99999999]) {
    assert.deepEqual(parsePounds(poundsInput(pence)), { pence });
  }
});

test("whole shares and what is left over", () => {
  assert.deepEqual(sharesFor(25000, 100), { shares: 250, remainder: 0 });
  assert.deepEqual(sharesFor(1250, 100), { shares: 12, remainder: 50 });
  assert.deepEqual(sharesFor(100, 0), { shares: 0, remainder: 0 });
});

test("holding room counts the investor's live pledges", () => {
  const offer = { min_holding_pence: 10000, max_holding_pence: 500000 };
  assert.deepEqual(holdingRoom(offer, 0), { room: 500000, minimumNow: 10000 });
  assert.deepEqual(holdingRoom(offer, 25000), { room: 475000, minimumNow: 0 });
  assert.deepEqual(holdingRoom(offer, 600000), { room: 0, minimumNow: 0 });
});

test("the progress bar never overflows and marks the targets", () => {
  const p = progress({ max_target_pence: 3000000, min_target_pence: 1000000, target_pence: 2000000, community_pledged_pence: 2700000, match_pence: 600000 });
  assert.equal(p.community, 90);
  assert.equal(p.match, 10);
  assert.ok(Math.abs(p.minimum - 100 / 3) < 1e-9);
  assert.ok(Math.abs(p.target - 200 / 3) < 1e-9);
});

test("rates, sort codes, links and cancellation", () => {
  assert.equal(formatRate(300), "3%");
  assert.equal(formatRate(275), "2.75%");
  assert.equal(formatRate(250), "2.5%");
  assert.equal(formatRate(205), "2.05%");
  assert.equal(formatSortCode("123456"), "12-34-56");
  assert.equal(safeUrl("javascript:alert(1)"), null);
  assert.equal(safeUrl("https://example.org/a.pdf"), "https://example.org/a.pdf");
  assert.equal(safeUrl("not a url"), null);
  const now = Date.parse("2026-11-23T12:00:00Z");
  assert.equal(cancellable({ status: "pending" }, now), true);
  assert.equal(cancellable({ status: "paid", cancellable_until: "2026-11-24T00:00:00Z" }, now), true);
  assert.equal(cancellable({ status: "paid", cancellable_until: "2026-11-22T00:00:00Z" }, now), false);
  assert.equal(cancellable({ status: "cancelled" }, now), false);
});

test("times are UK time across both changes of the clocks", () => {
  // BST: an hour ahead of UTC, so late evening is the next day in the UK.
  assert.equal(formatDateTime("2027-04-30T22:59:00Z"), "23:59 on 30 April 2027 (UK time)");
  assert.equal(formatDate("2027-04-30T23:30:00Z"), "1 May 2027");
  // The clocks go forward at 01:00 UTC on 28 March 2027, and back at 01:00 UTC on 31 October.
  assert.equal(formatDateTime("2027-03-28T00:59:00Z"), "00:59 on 28 March 2027 (UK time)");
  assert.equal(formatDateTime("2027-03-28T01:00:00Z"), "02:00 on 28 March 2027 (UK time)");
  assert.equal(formatDateTime("2027-10-31T00:59:00Z"), "01:59 on 31 October 2027 (UK time)");
  assert.equal(formatDateTime("2027-10-31T01:00:00Z"), "01:00 on 31 October 2027 (UK time)");
  assert.equal(formatDateTime("2026-12-24T10:00:00Z"), "10:00 on 24 December 2026 (UK time)");
  assert.equal(formatDateTime("not a time"), "—");
});

test("a fund's leverage, shares and months in words", () => {
  assert.equal(formatLeverage("3.25"), "£3.25 of community money per £1 of match");
  assert.equal(formatLeverage("1234.05"), "£1,234.05 of community money per £1 of match");
  assert.equal(formatLeverage(null), "None yet: no match has been given");
  assert.equal(formatLeverage("3.2"), "None yet: no match has been given");
  assert.equal(formatShare(3333), "33.33%");
  assert.equal(formatShare(10000), "100%");
  assert.equal(formatShare(null, "Not known"), "Not known");
  assert.equal(formatMonth("2026-11"), "November 2026");
  assert.equal(formatMonth("2027-01", { short: true }), "Jan 2027");
  assert.equal(formatMonth("2027-13"), "2027-13");
  assert.equal(formatAxisPounds(500000), "£5,000");
  assert.equal(formatAxisPounds(20), "£0.20");
  // UK time in tables: BST late on 30 April is already 1 May.
  assert.equal(formatWhen("2027-04-30T23:30:00Z"), "1 May 2027, 00:30");
  assert.equal(formatWhen("2026-12-24T10:00:00Z"), "24 December 2026, 10:00");
});

test("offers and transfers of fund money in plain words", () => {
  assert.equal(offerStatus("allocated"), "Succeeded, shares issued");
  assert.deepEqual(["draft", "submitted", "approved", "open"].map(offerStatus), ["Draft", "Submitted, waiting for approval", "Approved, opens at its opening time", "Open"]);
  assert.equal(offerStatus("something new"), "something new");
  assert.equal(transferKind({ kind: "budget", phase: "single" }), "Budget paid into the fund");
  assert.equal(transferKind({ kind: "match", phase: "void" }), "Match undone (pledge cancelled, expired or refunded, or offer failed)");
  assert.equal(transferKind({ kind: "other", phase: "single" }), "other (single)");
  assert.equal(transferState({ phase: "pending", state: "pending" }), "Reserved, not yet final");
  assert.equal(transferState({ phase: "pending", state: "posted" }), "Made final");
  assert.equal(transferState({ phase: "pending", state: "voided" }), "Undone");
  assert.equal(transferState({ phase: "post", state: "posted" }), "Final");
  assert.equal(transferState({ phase: "single", state: "posted" }), "Final");
});

test("a chart's money axis ends at a round amount above every bar", () => {
  assert.deepEqual(chartScale(0), { top: 100, ticks: [0, 20, 40, 60, 80, 100] });
  assert.deepEqual(chartScale(101), { top: 200, ticks: [0, 50, 100, 150, 200] });
  assert.deepEqual(chartScale(300000), { top: 500000, ticks: [0, 100000, 200000, 300000, 400000, 500000] });
  assert.equal(chartScale(1000000).top, 1000000);
  for (const pence of [1, 99, 12345, 987654321]) {
    const { top, ticks } = chartScale(pence);
    assert.ok(top >= pence && top < pence * 5 + 100, `${pence} → ${top}`);
    assert.ok(ticks.every(Number.isSafeInteger), "ticks are whole pence");
  }
});

test("a chart's text alternative sums it up", () => {
  assert.equal(chartSummary([]), "No pledges yet.");
  assert.equal(
    chartSummary([{ month: "2026-11", community_pence: 150000, matched_pence: 50000, pledges: 3 }]),
    "In November 2026, £1,500.00 of community money and £500.00 of match money came in.",
  );
  assert.equal(
    chartSummary([
      { month: "2026-10", community_pence: 100000, matched_pence: 10000, pledges: 1 },
      { month: "2026-11", community_pence: 300000, matched_pence: 20000, pledges: 2 },
    ]),
    "From October 2026 to November 2026, £4,000.00 of community money and £300.00 of match money came in. The most community money came in November 2026: £3,000.00.",
  );
});

// ---------------------------------------------------------------------------------------------
// The society console's helpers (web/console-format.js)

import {
  asSentence, awaitingCountWords, awaitingReceiptWords, importOutcome, offerRules, offerWords, parseAccountNumber, parsePercent, parsePrefixes,
  parseSortCode, parseUkDateTime, parseWhole, receiptRecordedWords, ukDayToIso, ukInput, ukText, ukToIso,
} from "../../web/console-format.js";

test("sort codes and account numbers are checked as typed", () => {
  assert.deepEqual(parseSortCode("12-34-56"), { value: "123456" });
  assert.deepEqual(parseSortCode(" 12 34 56 "), { value: "123456" });
  assert.equal(parseSortCode("12-34-5").error, "A sort code has 6 digits; this has 5");
  assert.equal(parseSortCode("12-34-5a").error, "A sort code has digits only, like 12-34-56");
  assert.ok(parseSortCode("").error);
  assert.deepEqual(parseAccountNumber("1234 5678"), { value: "12345678" });
  assert.equal(parseAccountNumber("1234567").error, "An account number has 8 digits; this has 7");
  assert.ok(parseAccountNumber("1234567x").error);
});

test("percentages become basis points without floating point", () => {
  assert.deepEqual(parsePercent("3"), { bps: 300 });
  assert.deepEqual(parsePercent("2.75"), { bps: 275 });
  assert.deepEqual(parsePercent("2.5%"), { bps: 250 });
  assert.deepEqual(parsePercent("0.07"), { bps: 7 });
  assert.ok(parsePercent("2.755").error);
  assert.ok(parsePercent("-1").error);
  assert.deepEqual(parseWhole("14"), { value: 14 });
  assert.ok(parseWhole("1.5").error);
});

test("UK wall-clock times become UTC, across the clock changes", () => {
  assert.equal(ukToIso("2026-12-01T09:00"), "2026-12-01T09:00:00Z"); // GMT
  assert.equal(ukToIso("2026-07-01T09:00"), "2026-07-01T08:00:00Z"); // BST
  assert.equal(ukToIso("2026-03-29T01:30"), "2026-03-29T01:30:00Z"); // the skipped hour: an hour later in UK time
  assert.equal(ukToIso("2026-10-25T01:30"), "2026-10-25T00:30:00Z"); // the repeated hour: the first
  assert.equal(ukToIso("nonsense"), null);
  assert.equal(ukInput("2026-07-01T08:00:00Z"), "2026-07-01T09:00");
  assert.equal(ukText("2026-12-31T17:00:00Z"), "31/12/2026 17:00");
  assert.equal(ukText("not a date"), "");
  assert.equal(ukDayToIso("2026-07-01"), "2026-07-01T11:00:00Z");
  assert.equal(ukDayToIso("01/07/2026"), null);
});

test("days and times are read as people in the UK type them", () => {
  assert.equal(parseUkDateTime("01/12/2026 09:00"), "2026-12-01T09:00");
  assert.equal(parseUkDateTime("1/12/2026 9.30"), "2026-12-01T09:30");
  assert.equal(parseUkDateTime("1/12/2026, 17:05"), "2026-12-01T17:05");
  assert.equal(parseUkDateTime("2026-12-01 09:00"), "2026-12-01T09:00");
  assert.equal(parseUkDateTime("31/02/2026 09:00"), null, "no 31 February");
  assert.equal(parseUkDateTime("01/12/2026 24:00"), null);
  assert.equal(parseUkDateTime("12/31/2026 09:00"), null, "not month first");
  assert.equal(parseUkDateTime(""), null);
});

test("the offer form's rules are checked as people type", () => {
  const good = {
    share_price: "5", min_target: "500", target: "1000", max_target: "5000", min_holding: "50", max_holding: "1000",
    opens_at: "01/12/2026 09:00", closes_at: "31/12/2026 17:00", cooling_off_days: "14", interest_rate: "3",
  };
  assert.ok(offerRules(good).every((r) => r.ok === true), JSON.stringify(offerRules(good)));
  const broken = (change) => offerRules({ ...good, ...change }).filter((r) => r.ok === false).map((r) => r.rule);
  assert.deepEqual(broken({ target: "400" }), ["Minimum ≤ target ≤ maximum"]);
  assert.deepEqual(broken({ target: "1002" }), ["Every target and holding is a whole number of shares"]);
  assert.deepEqual(broken({ max_holding: "40" }), ["Smallest holding ≤ largest holding"]);
  assert.deepEqual(broken({ max_holding: "100005", max_target: "200000" }), ["Largest holding at most £100,000.00 (the legal limit for one member)"]);
  assert.deepEqual(broken({ closes_at: "30/11/2026 09:00" }), ["Closes after it opens, and within 180 days (UK time)"]);
  assert.deepEqual(broken({ closes_at: "01/07/2027 09:00" }), ["Closes after it opens, and within 180 days (UK time)"]);
  assert.deepEqual(broken({ cooling_off_days: "31" }), ["Cooling-off between 0 and 30 days"]);
  assert.deepEqual(broken({ interest_rate: "100.01" }), ["Interest between 0% and 100%"]);
  const waiting = offerRules({ ...good, share_price: "" });
  assert.equal(waiting[0].ok, null, "a rule waits for what it needs");
});

test("local areas and statement outcomes", () => {
  assert.deepEqual(parsePrefixes("gl5, GL6  1;sn\n"), ["GL5", "GL6 1", "SN"]);
  assert.deepEqual(parsePrefixes(""), []);
  assert.equal(importOutcome("part_payment"), "Part payment");
  assert.equal(importOutcome("something_new"), "something_new");
});

test("a receipt typed by hand: counted at once, or awaiting a second admin on an offer with match funding", () => {
  const sent = { reference: "CSK7M29QXT2", amount_pence: 10_000 };
  assert.equal(receiptRecordedWords(sent, { status: "pending", amount_pence: 25_000, received_pence: 10_000, receipt: { id: "r1", status: "confirmed" } }),
    "Recorded £100.00 against CSK7M29QXT2. Part payment recorded: £100.00 received, £150.00 still to pay.");
  assert.equal(receiptRecordedWords(sent, { status: "paid", amount_pence: 10_000, received_pence: 10_000 }), "Recorded £100.00 against CSK7M29QXT2. The pledge is paid in full.");
  assert.equal(receiptRecordedWords(sent, { status: "pending", amount_pence: 25_000, received_pence: 0, receipt: { id: "r1", status: "awaiting_confirmation" } }),
    "Recorded £100.00 for CSK7M29QXT2: it counts once another admin of the society confirms it (this offer has match funding, so a receipt typed by hand needs a second person).");
  assert.equal(awaitingReceiptWords({ id: "r1", amount_pence: 10_000, received_at: "2026-07-01T11:00:00Z", recorded_at: "2026-07-02T09:00:00Z" }),
    "£100.00 received on 1 July 2026, typed by hand: awaiting a second admin's confirmation");
  assert.equal(awaitingReceiptWords({ amount_pence: 500, received_at: "2026-12-31T23:30:00Z" }), "£5.00 received on 31 December 2026, typed by hand: awaiting a second admin's confirmation", "the UK day (GMT)");
  assert.equal(awaitingCountWords(0), "");
  assert.equal(awaitingCountWords(1), "1 receipt typed by hand awaits a second admin's confirmation");
  assert.equal(awaitingCountWords(3), "3 receipts typed by hand await a second admin's confirmation");
  assert.equal(asSentence("you typed this receipt: another admin of the society must confirm it"), "You typed this receipt: another admin of the society must confirm it.");
  assert.equal(asSentence("Already confirmed."), "Already confirmed.");
  assert.equal(asSentence(""), "");
});

test("the API's field names in its messages become the offer form's words", () => {
  assert.equal(offerWords("must not be below min_target_pence"), "must not be below the minimum to go ahead");
  assert.equal(offerWords("must not be below target_pence"), "must not be below the target");
  assert.equal(offerWords("must not exceed max_target_pence"), "must not exceed the maximum");
  assert.equal(offerWords("must not be below min_holding_pence"), "must not be below the smallest holding");
  assert.equal(offerWords("must be at most 180 days after opens_at"), "must be at most 180 days after the opening time");
  assert.equal(offerWords("must be between 0 and 10000 (100%)"), "must be between 0% and 100%");
  assert.equal(offerWords("the society has no bank details yet: set them (PUT /api/v1/societies/{id}/bank-details) before submitting"),
    "the society has no bank details yet: set them on the society's page before submitting");
  assert.equal(offerWords("must be a whole number of shares (£5.00 each)"), "must be a whole number of shares (£5.00 each)", "nothing else changes");
  assert.equal(offerWords(undefined), "");
  // Whole names only: `target_pence` inside `min_target_pence` is not replaced on its own.
  assert.equal(formWords("min_target_pence, target_pence; xtarget_pence", { target_pence: "T" }), "min_target_pence, T; xtarget_pence");
});

import { applicationStatus, confirmationWords, draftWords, fundBody, fundWords, percentToBps, poundsOrNull, prefixList, ruleMoney, ruleWords, simulationWords } from "../../web/funder-format.js";

test("the funder console says a rule as the server does (src/domain/matching/words.rs)", () => {
  assert.equal(
    ruleWords({ kind: "per_pledge", ratio_num: 1, ratio_den: 1, per_pledge_cap_pence: 25_000, per_offer_cap_pence: 500_000, trigger: { kind: "percent_of_target", value: 2_500, min_investors: 10 }, timing: "live" }),
    "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer, once 25% of the target is pledged by at least 10 investors; matched as pledges arrive",
  );
  assert.equal(
    ruleWords({ kind: "per_pledge", ratio_num: 1, ratio_den: 2, per_offer_cap_pence: 1_000_050, trigger: { kind: "min_target" }, eligibility: { postcode_prefixes: ["GL5", "GL6 1"] }, exclusive: true, timing: "at_close" }),
    "50p for every £1 pledged, up to £10,000.50 per offer, once the offer's minimum target is pledged, for investors in GL5, GL6 1; no other fund may match the same offer; decided when the offer closes",
  );
  assert.ok(ruleWords({ kind: "per_pledge", ratio_num: 2, ratio_den: 3, per_offer_cap_pence: 100_000, trigger: { kind: "amount", value: 250_000 }, timing: "live" })
    .startsWith("£2 for every £3 pledged, up to £1,000 per offer, once £2,500 is pledged;"));
  assert.equal(ruleWords({ kind: "lump_sum", lump_sum_pence: 200_000, per_offer_cap_pence: 200_000, trigger: { kind: "none" }, timing: "at_close" }),
    "a lump sum of £2,000, up to £2,000 per offer; decided when the offer closes");
  assert.equal(ruleWords({ kind: "per_pledge", ratio_num: 1, ratio_den: 1, per_offer_cap_pence: 100, trigger: { kind: "none", min_investors: 5 }, timing: "live" }),
    "£1 for every £1 pledged, up to £1 per offer, once pledged by at least 5 investors; matched as pledges arrive");
  assert.equal(ruleWords({ kind: "per_pledge", ratio_num: 1, ratio_den: 1, per_offer_cap_pence: 100, trigger: { kind: "percent_of_target", value: 1_250 }, timing: "live" }),
    "£1 for every £1 pledged, up to £1 per offer, once 12.50% of the target is pledged; matched as pledges arrive");
  assert.deepEqual([ruleMoney(50), ruleMoney(100), ruleMoney(123_456), ruleMoney(0)], ["50p", "£1", "£1,234.56", "£0"]);
});

test("the rule builder reads what is typed", () => {
  assert.deepEqual([poundsOrNull("£2,500.5"), poundsOrNull(""), poundsOrNull("x")], [250_050, null, NaN]);
  assert.deepEqual([percentToBps("25"), percentToBps("12.5%"), percentToBps("")], [2_500, 1_250, null]);
  assert.deepEqual(prefixList(" gl5,  gl6   1 ,"), ["GL5", "GL6 1"]);
  const v = { name: " Fund ", budget: "10000", kind: "per_pledge", ratio_num: "1", ratio_den: "1", per_pledge_cap: "250", per_offer_cap: "5000", trigger_kind: "none", trigger_value: "", min_investors: "", postcode_prefixes: "", timing: "live" };
  const { body, problems } = fundBody(v);
  assert.deepEqual(problems, []);
  assert.equal(body.name, "Fund");
  assert.equal(body.budget_pence, 1_000_000);
  assert.deepEqual(body.rule.trigger, { kind: "none", value: null, min_investors: null });
  assert.equal(draftWords(v), "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer; matched as pledges arrive");
  assert.match(draftWords({ ...v, ratio_den: "0" }), /Set the match ratio/);
  assert.deepEqual(fundBody({ ...v, ratio_den: "one" }).problems.map((p) => p.field), ["rule.ratio_den"]);
  assert.equal(fundBody({ ...v, trigger_kind: "percent_of_target", trigger_value: "25" }).body.rule.trigger.value, 2_500);
  for (const typed of ["0", "150"]) {
    assert.deepEqual(fundBody({ ...v, trigger_kind: "percent_of_target", trigger_value: typed }).problems,
      [{ field: "rule.trigger.value", message: "Enter a percentage between 0.01 and 100" }], `${typed}% is refused as typed`);
  }
  assert.deepEqual(fundBody({ ...v, trigger_kind: "percent_of_target", trigger_value: "100" }).problems, []);
});

test("a simulation names the cap per investor and where the trigger is met, 0 pledges too", () => {
  const pledges = [{ amount_pence: 30000, match_pence: 25000 }, { amount_pence: 20000, match_pence: 20000 }];
  const met = simulationWords({ match_pence: 45000, per_pledge: pledges, per_investor_cap_pence: 25000, trigger_met_after: 0 });
  assert.equal(met.summary, "A match of £450.00 over 2 pledges totalling £500.00.");
  assert.equal(met.cap, "£250.00");
  assert.equal(met.trigger, "Met from the start");
  assert.match(met.desc, /largest match for one pledge is £250\.00\. A dashed line marks the cap per investor, £250\.00\. The trigger is met from the start/);
  const later = simulationWords({ match_pence: 45000, per_pledge: pledges, per_investor_cap_pence: null, trigger_met_after: 2 });
  assert.equal(later.cap, "None");
  assert.equal(later.trigger, "Met after pledge 2 of 2");
  assert.match(later.desc, /There is no cap per investor\. A dotted line after pledge 2 marks where the trigger is met\./);
  const none = simulationWords({ match_pence: 0, per_pledge: [], per_investor_cap_pence: 10000, trigger_met_after: null });
  assert.equal(none.summary, "A match of £0.00 over 0 pledges totalling £0.00.");
  assert.match(none.trigger, /^Not met yet/);
  assert.match(none.desc, /largest match for one pledge is £0\.00\..+The trigger is not met yet by the current pledges, so nothing is matched\./);
  assert.ok(!/NaN|undefined|Infinity/.test(none.desc), none.desc);
});

test("an application's state, and the API's fund messages in the words typed", () => {
  assert.equal(applicationStatus({ status: "pending" }), "Waiting for a decision");
  assert.equal(applicationStatus({ status: "pending", confirmation: { state: "awaiting" } }), "Approved by one admin, awaiting a second admin's confirmation");
  assert.equal(applicationStatus({ status: "pending", confirmation: { state: "declined" } }), "Waiting for a decision");
  assert.equal(applicationStatus({ status: "approved", confirmation: { state: "confirmed" } }), "Approved");
  assert.equal(applicationStatus({ status: "something_new" }), "something_new");
  assert.equal(fundWords("a percent_of_target trigger needs a value in basis points, 1 to 10000"), "the percentage must be between 0.01 and 100");
  assert.equal(fundWords("an amount trigger needs a value in pence above zero"), "the amount must be more than £0");
  assert.equal(fundWords("a per_pledge rule needs ratio_num and ratio_den between 1 and 100"), "both amounts of the match must be whole pounds from 1 to 100");
  assert.equal(fundWords("must not exceed per_offer_cap_pence"), "must not exceed the cap per offer");
  assert.equal(fundWords("must be at least 1"), "must be at least 1");
});

test("a second approval names who asked and who answered", () => {
  const c = { state: "awaiting", commitment_pence: 400000, requested_by: "a", requested_by_name: "Alex Grants", requested_at: "2026-12-01T10:00:00Z" };
  assert.equal(confirmationWords(c, "a"), "Approved by Alex Grants (you) at 10:00 on 1 December 2026 (UK time) for £4,000.00, awaiting a second admin.");
  assert.equal(confirmationWords(c, "b"), "Approved by Alex Grants at 10:00 on 1 December 2026 (UK time) for £4,000.00, awaiting a second admin.");
  const answered = { ...c, resolved_by: "b", resolved_by_name: "Bea Trustee", resolved_at: "2026-07-01T09:30:00Z" };
  assert.equal(confirmationWords({ ...answered, state: "confirmed" }, "a"), "Confirmed by Bea Trustee at 10:30 on 1 July 2026 (UK time). Approved by Alex Grants (you) at 10:00 on 1 December 2026 (UK time) for £4,000.00.");
  assert.equal(confirmationWords({ ...answered, state: "declined", reason: "Over budget" }, "b"), "Declined by Bea Trustee (you) at 10:30 on 1 July 2026 (UK time). Reason: Over budget. Approved by Alex Grants at 10:00 on 1 December 2026 (UK time) for £4,000.00.");
  assert.match(confirmationWords({ ...c, state: "released" }, "x"), /^Approved by Alex Grants at .+; released before a second admin answered/);
  assert.match(confirmationWords({ ...c, requested_by_name: undefined }, "x"), /^Approved by another admin at /);
});

import { adminWords, invitationStatusWords, needsSecondAdmin } from "../../web/funder-format.js";
import { consoleHref, invitationSentWords, invitationWords } from "../../web/format.js";

test("an invitation to be an admin, as the invitee and the one who added them read it", () => {
  const inv = { id: "i1", kind: "funder", organisation_id: "f 1", organisation_name: "Stroud Community Fund", invited_by_name: "Alex Grants", created_at: "2026-06-30T23:30:00Z" };
  assert.equal(invitationWords(inv), "Join Stroud Community Fund as an admin of this funder — invited by Alex Grants on 1 July 2026");
  assert.equal(invitationWords({ ...inv, kind: "society", organisation_name: "Mill Lane Energy" }), "Join Mill Lane Energy as an admin of this society — invited by Alex Grants on 1 July 2026");
  assert.equal(invitationWords({ ...inv, invited_by_name: null }), "Join Stroud Community Fund as an admin of this funder — invited on 1 July 2026");
  assert.equal(consoleHref("funder", "f 1"), "#/funder/f%201");
  assert.equal(consoleHref("society", "s1"), "#/console/societies/s1");
  assert.equal(invitationSentWords("invited", "bea@example.org"), "Invitation sent to bea@example.org: they must accept it on their page.");
  assert.equal(invitationSentWords("awaiting_second_admin", "bea@example.org"), "Waiting for a second admin of this funder to agree: ask another admin to add bea@example.org too.");
  assert.equal(invitationSentWords(undefined, "kit@example.org"), "Invitation sent to kit@example.org: they must accept it on their page.");
});

test("a funder's admins and open invitations in words; fewer than two admins cannot approve", () => {
  assert.equal(adminWords({ display_name: "Bea", email: "b@x", since: "2026-12-08T10:00:00Z", invited_by_name: "Pat Platform" }), "admin since 8 December 2026, invited by Pat Platform");
  assert.equal(adminWords({ since: "2026-12-08T10:00:00Z", invited_by_name: null }), "admin since 8 December 2026");
  const open = { id: "i", email: "c@x", display_name: "Cy", invited_by_name: "Alex Grants", seconded_by_name: null, created_at: "2026-12-08T10:00:00Z" };
  assert.equal(invitationStatusWords({ ...open, status: "awaiting_second_admin" }), "Waiting for a second admin of this funder to agree. Asked by Alex Grants on 8 December 2026.");
  assert.equal(invitationStatusWords({ ...open, status: "invited", seconded_by_name: "Bea Trustee" }), "Waiting for them to accept. Invited by Alex Grants, agreed by Bea Trustee, on 8 December 2026.");
  assert.equal(invitationStatusWords({ ...open, status: "invited" }), "Waiting for them to accept. Invited by Alex Grants on 8 December 2026.");
  assert.equal(needsSecondAdmin([{}]), true);
  assert.equal(needsSecondAdmin([]), true);
  assert.equal(needsSecondAdmin([{}, {}]), false);
  assert.equal(needsSecondAdmin(undefined), false, "unknown (the list could not be read): no notice");
});

import { approvalWords, closeWords, emailKind, progressWords, verdictWords } from "../../web/platform-format.js";

test("the platform console says what approving and closing early do", () => {
  const offer = { opens_at: "2026-12-02T09:00:00Z", closes_at: "2027-01-31T17:00:00Z" };
  assert.match(approvalWords(offer, Date.parse("2026-12-01T00:00:00Z")), /^Approving lets it open\. The scheduler opens it to investors at 09:00 on 2 December 2026 \(UK time\); it then takes pledges until 17:00 on 31 January 2027 \(UK time\)\./);
  assert.match(approvalWords(offer, Date.parse("2026-12-03T00:00:00Z")), /opening time \(09:00 on 2 December 2026 \(UK time\)\) has passed, so the scheduler opens it to investors straight away/);
  const open = { ...offer, min_target_pence: 1_000_000, community_pledged_pence: 600_000, community_paid_pence: 400_000, match_pence: 100_000 };
  const short = closeWords(open);
  assert.match(short[0], /^It stops taking pledges now, instead of at 17:00 on 31 January 2027 \(UK time\)\./);
  assert.match(short[1], /every unpaid pledge \(£2,000\.00 now\).+minimum target of £10,000\.00/);
  assert.equal(short[2], "So far £4,000.00 is paid and £1,000.00 matched, £5,000.00 in all: £5,000.00 short of the minimum.");
  assert.match(short[3], /shares are allocated.+refunded/);
  assert.match(closeWords({ ...open, community_paid_pence: 900_000 })[2], /£10,000\.00 in all: enough to succeed\.$/);
  assert.equal(progressWords({ ...open, target_pence: 2_000_000, investor_count: 1 }), "£7,000.00 raised (£6,000.00 pledged, £1,000.00 match) by 1 investor, of a £20,000.00 target; minimum £10,000.00.");
});

test("the ledger check's verdict and an email's kind in words", () => {
  assert.deepEqual(verdictWords({ balanced: true, accounts_checked: 10, transfers_checked: 1, problems: [], payment_disagreements: [] }),
    { headline: "The ledger is balanced", detail: "10 accounts and 1 transfer checked; no problem found." });
  const bad = verdictWords({ balanced: false, accounts_checked: 1, transfers_checked: 9, problems: ["a", "b"], payment_disagreements: ["c"] });
  assert.equal(bad.headline, "The ledger is not balanced");
  assert.equal(bad.detail, "1 account and 9 transfers checked; 2 problems found. 1 card payment disagrees with what the payment provider last said: a person must look.");
  assert.equal(emailKind("pledge_received"), "Pledge received");
  assert.equal(emailKind("confirmation_awaited"), "Confirmation awaited");
  assert.equal(emailKind(""), "—");
});
