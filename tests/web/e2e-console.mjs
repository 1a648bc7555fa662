// The society console in headless Chromium, against the real server on a fresh database: a
// society admin registers a society, sets bank details (the society's facts say "Set" at once and
// the registration's "Next: its bank details" goes) and invites a co-admin (who accepts, API),
// drafts an offer with one mistake (the API's message under its field, in the form's words: no
// API field names), fixes it, empties the minimum age on editing (the hint's usual 16 is
// stored), applies for match funding and submits; the funder's two admins (invited by the
// platform, each accepting) commit to the application, one approving and the other confirming;
// the platform approves and investors pledge (through the API); the admin records receipts by
// hand, which wait for a second person since the offer holds match money (the admin who typed
// them may not confirm one, nor may the co-admin they brought in less than 7 days before; the
// admin withdraws one typed in error; a platform admin confirms the other in the browser), and
// imports a statement (preview, then apply); the platform closes it; the admin sees the
// close-out, the register and downloads its CSV. Then the offer form again, by keyboard alone;
// the error pages (403, 409, 503); a 390 px phone. axe-core on every page; no console errors, no
// 5xx. Exits non-zero with the reason on the first failure; prints a JSON summary on success.
//
// Environment: BASE_URL, PLATFORM_EMAIL, PLATFORM_PASSWORD (a platform admin), SCREENSHOTS (a
// folder for console-offer-form.png, console-dashboard.png, console-import-preview.png, or
// empty), CS_E2E_CHROMIUM (default /usr/bin/chromium).

import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import assert from "node:assert/strict";
import { accessible, apiClient, env, errorNextTo, focusedIs, go, launch, recorder, signIn, step, tabTo, watch, TEST_PASSWORD } from "./browser.mjs";
import { formatPounds } from "../../web/format.js";

const BASE = env("BASE_URL").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOTS ?? "";
const RUN = Date.now().toString(36);
const PASSWORD = TEST_PASSWORD;
const ADMIN = { email: `console-admin-${RUN}@example.org`, name: "Sam Treasurer" };
const CO_ADMIN = { email: `console-coadmin-${RUN}@example.org`, name: "Kit Secretary" };
// The funder's two admins: a platform admin may not be one (it invites them).
const FUNDER_ADMINS = [{ email: `console-funder-a-${RUN}@example.org`, name: "Fay Grants" }, { email: `console-funder-b-${RUN}@example.org`, name: "Gil Trustee" }];
const INVESTORS = [["Ada Lovelace", 25_000], ["Ben Okafor", 30_000], ["Cara Jones", 10_000], ["Dan Smith", 5_000]];
const problems = [];
const summary = { pages: [] };
const { shot, visited } = recorder(SHOTS, summary);

// ---------------------------------------------------------------------------------------------
// The API side (what the platform, the funder and investors do)

const { call, login, account, waitForStatus, accept, makeAdmin } = apiClient(BASE);


const key = () => crypto.randomUUID();

/**
 * A funder with a fund matching £1 for £1: the platform invites its two admins, each accepts,
 * and the first creates the fund. Answers the fund and the two admins' tokens.
 */
async function fundScene(platform) {
  const funder = await call("POST", "/funders", { token: platform, body: { name: `Stroud Booster ${RUN}` }, expect: 201 });
  const tokens = [];
  for (const who of FUNDER_ADMINS) {
    await account(who.email, who.name);
    await makeAdmin("funder", funder.id, who.email, platform);
    tokens.push(await login(who.email, PASSWORD));
  }
  const rule = { kind: "per_pledge", ratio_num: 1, ratio_den: 1, per_pledge_cap_pence: 10_000, per_offer_cap_pence: 50_000, trigger: { kind: "none" }, timing: "live" };
  const fund = await call("POST", `/funders/${funder.id}/funds`, { token: tokens[0], key: key(), body: { name: `Riverside Match ${RUN}`, budget_pence: 100_000, rule }, expect: 201 });
  return { fund, funderAdmins: tokens };
}

/** The funder commits £200 to the application: a new fund needs two admins, one to approve (202, held) and the other to confirm. */
async function funderCommits(offerId, fund, [asker, confirmer], platform) {
  const [application] = await call("GET", `/offers/${offerId}/match-applications`, { token: platform, expect: 200 });
  const held = await call("POST", `/funds/${fund.id}/applications/${application.id}/approve`, { token: asker, key: key(), body: { commitment_pence: 20_000 }, expect: 202 });
  assert.equal(held.confirmation?.state, "awaiting", "the first admin's approval waits for the second");
  const approved = await call("POST", `/funds/${fund.id}/applications/${application.id}/confirm`, { token: confirmer, body: {}, expect: 200 });
  assert.equal(approved.status, "approved");
}

async function investorsPledge(offerId) {
  const out = [];
  for (const [i, [name, amount]] of INVESTORS.entries()) {
    const token = await account(`console-investor${i}-${RUN}@example.org`, name.split(" ")[0]);
    await call("PUT", "/me/profile", { token, body: { full_name: name, address_line1: `${i + 1} Mill Lane`, town: "Stroud", postcode: "GL5 1AA", date_of_birth: "1980-05-01" }, expect: 200 });
    const pledge = await call("POST", `/offers/${offerId}/pledges`, { token, key: key(), body: { amount_pence: amount, payment_method: "bank_transfer", accept_terms: true }, expect: 201 });
    out.push({ name, amount, token, reference: pledge.payment.bank_reference, id: pledge.id });
  }
  return out;
}


// ---------------------------------------------------------------------------------------------
// Browser helpers




const fieldInput = (page, name) => page.locator(`main [data-field="${name}"]`);

async function fillOffer(page, values) {
  for (const [name, value] of Object.entries(values)) await page.locator(`main [name="${name}"]`).fill(value);
}

/** A UK wall-clock time `days` from now, as the offer form takes it ("01/12/2026 09:00"). */
function ukLocal(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/London", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
}

const TERMS = {
  title: "Mill Lane community solar", summary: "Solar panels on the mill and the village hall.",
  share_price: "5", min_target: "500", target: "400", max_target: "5000", min_holding: "50", max_holding: "1000",
  cooling_off_days: "14", interest_rate: "3", document_url: "https://example.org/mill-lane-offer.pdf", min_age: "18", postcode_prefixes: "GL5, GL6",
};

// ---------------------------------------------------------------------------------------------
// The steps in the browser

async function registerSociety(page) {
  step("the society admin signs in and registers a society");
  await signIn(page, BASE, ADMIN.email, PASSWORD, "/console");
  await visited(page, "console home", "Society console");
  await page.getByRole("link", { name: "Register a society" }).click();
  await page.getByLabel("Society name").fill(`Mill Lane Energy ${RUN}`);
  await page.getByLabel("Kind of society").selectOption("community_benefit_society");
  await page.getByLabel("FCA registration number").fill(`RS${RUN.slice(-6)}`);
  await page.getByLabel("Postcode of the registered office").fill("GL5 1AB");
  await visited(page, "register a society", "Register a society");
  await page.getByRole("button", { name: "Register the society" }).click();
  await page.getByRole("heading", { level: 1, name: `Mill Lane Energy ${RUN}` }).waitFor();
  return decodeURIComponent(new URL(page.url()).hash.split("/").pop());
}

async function bankAndAdmins(page) {
  step("bank details, validated as typed, then set on the page at once; a co-admin by email");
  const bankState = page.locator("main dl.terms .bank-state");
  assert.match(await bankState.textContent(), /^Not set yet/);
  await page.getByRole("status").filter({ hasText: "Next: its bank details." }).waitFor();
  const sort = page.getByLabel("Sort code");
  await sort.fill("12-34-5");
  await (await errorNextTo(sort)).filter({ hasText: "6 digits; this has 5" }).waitFor();
  assert.equal(await sort.getAttribute("aria-invalid"), "true");
  await sort.fill("12-34-56");
  assert.equal(await (await errorNextTo(sort)).isHidden(), true, "the message goes once it is right");
  await page.getByLabel("Account number").fill("1234 5678");
  await page.getByRole("button", { name: "Save bank details" }).click();
  await page.getByText("Bank details saved:").filter({ hasText: "12-34-56, account ending 5678" }).waitFor();
  assert.equal(await bankState.textContent(), "Set", "the society's facts say the bank details are set, without a reload");
  assert.equal(await page.getByText("Next: its bank details.").count(), 0, "the registration's \"Next: its bank details\" is gone");
  await page.getByLabel("Email of the person to add as an admin").fill(CO_ADMIN.email);
  await page.getByRole("button", { name: "Add admin" }).click();
  await page.getByRole("status").filter({ hasText: `Invitation sent to ${CO_ADMIN.email}: they must accept it on their page.` }).waitFor();
  await visited(page, "the society");
  step("the co-admin accepts the invitation (API): then they run the society");
  const societyId = decodeURIComponent(new URL(page.url()).hash.split("/").pop());
  const coAdmin = await login(CO_ADMIN.email, PASSWORD);
  assert.equal((await accept(coAdmin, societyId)).kind, "society");
  assert.ok((await call("GET", "/me", { token: coAdmin, expect: 200 })).societies.includes(societyId), "the co-admin runs the society once they accept");
}

async function draftOffer(page) {
  step("an offer with one mistake: the API's message under its field; fixed; saved");
  await page.getByRole("link", { name: "Draft an offer" }).click();
  await page.getByRole("heading", { level: 1, name: "Draft a share offer" }).waitFor();
  const closes = ukLocal(30);
  await fillOffer(page, { ...TERMS, opens_at: ukLocal(-1 / 24), closes_at: closes });
  const rules = page.locator(".rules");
  await rules.locator(".rule-bad", { hasText: "Minimum ≤ target ≤ maximum" }).waitFor();
  await page.locator(".rules-count").filter({ hasText: "1 rule is not met yet." }).waitFor();
  await visited(page, "the offer form");
  await shot(page, "console-offer-form");
  await page.getByRole("button", { name: "Save the draft" }).click();
  const target = fieldInput(page, "target_pence");
  const targetError = await errorNextTo(target);
  await targetError.filter({ hasText: "Must not be below the minimum to go ahead." }).waitFor();
  assert.ok(!/_pence/.test(await targetError.textContent()), "no API field name in the message");
  assert.equal(await target.getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-field")), "target_pence", "focus goes to the field to fix");
  await visited(page, "the offer form with the API's error");
  await target.fill("1000");
  await page.locator(".rules-count").filter({ hasText: "Every rule checked so far is met." }).waitFor();
  await page.getByRole("button", { name: "Save the draft" }).click();
  await page.getByText("The draft is saved.").waitFor();
  await page.locator(".state").filter({ hasText: "State: Draft" }).waitFor();
  const text = await page.locator("main").textContent();
  for (const s of ["£5.00", "£500.00 / £1,000.00 / £5,000.00", "£50.00 to £1,000.00", "14 days", "3%", "GL5, GL6"]) assert.ok(text.includes(s), `the overview shows ${s}`);
  await visited(page, "the draft's overview");
  const offerId = decodeURIComponent(new URL(page.url()).hash.split("/").pop());
  step("edited while a draft: the form holds every term as saved (UK times too)");
  await page.getByRole("link", { name: "Edit the draft" }).click();
  await page.getByRole("heading", { level: 1, name: `Edit: ${TERMS.title}` }).waitFor();
  assert.equal(await page.locator('main [name="target"]').inputValue(), "1000.00");
  assert.equal(await page.locator('main [name="closes_at"]').inputValue(), closes, "the closing time as typed, in UK time");
  assert.equal(await page.locator('main [name="postcode_prefixes"]').inputValue(), "GL5, GL6");
  await page.getByLabel("Summary").fill("Solar panels on the mill, the village hall and the school.");
  const minAge = page.locator('main [name="min_age"]');
  assert.equal(await minAge.inputValue(), "18");
  assert.match(await page.locator(`#${await minAge.getAttribute("id")}-hint`).textContent(), /leave empty for the usual minimum of 16/);
  await minAge.fill(""); // empty: the server's usual minimum, as the hint says
  await visited(page, "the edit form");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("The draft is saved.").waitFor();
  const saved = await call("GET", `/offers/${offerId}`, { token: await login(ADMIN.email, PASSWORD) });
  assert.ok(saved.summary.includes("the school"), "the edit is saved");
  assert.equal(saved.eligibility.min_age, 16, "an emptied minimum age is the usual 16, as the hint says");
  return offerId;
}

async function applyAndSubmit(page, offerId, fund) {
  step("the public funds with their rules in words; apply; submit for approval");
  await page.getByRole("navigation", { name: "This offer" }).getByRole("link", { name: "Match funding" }).click();
  const card = page.locator(`[data-fund="${fund.id}"]`);
  await card.waitFor();
  assert.match(await card.textContent(), /How it matches: .+\./);
  await visited(page, "match funds");
  await card.getByRole("button", { name: /Apply/ }).click();
  await page.getByText(`Applied to ${fund.name}.`).waitFor();
  await page.locator(".applications").filter({ hasText: "Waiting for the funder" }).waitFor();
  await page.getByRole("navigation", { name: "This offer" }).getByRole("link", { name: "Overview" }).click();
  await page.getByRole("button", { name: "Submit for approval" }).click();
  await page.getByText("Submitted: the platform will review it.").waitFor();
  const audit = page.locator("table.audit tbody tr");
  assert.equal(await audit.count(), 2, "audit: drafted and submitted");
  assert.match(await audit.nth(1).textContent(), new RegExp(`You \\(${ADMIN.name}\\)Draft.*Submitted, waiting for approval`));
  await visited(page, "the submitted offer");
}

async function dashboardAndPledges(page, offerId, investors) {
  step("the dashboard of the open offer, and the pledges table (filter, search)");
  await go(page, `/console/offers/${offerId}`);
  await page.getByRole("heading", { level: 2, name: "Dashboard" }).waitFor();
  const offer = await call("GET", `/offers/${offerId}`, { token: investors[0].token });
  const totals = await page.locator("dl.totals").textContent();
  for (const s of [formatPounds(offer.community_pledged_pence), formatPounds(offer.match_pence)]) assert.ok(totals.includes(s), `the dashboard shows ${s}: ${totals}`);
  assert.ok(totals.includes(`Investors${INVESTORS.length}`), "investors counted");
  await page.locator("svg.chart circle").first().waitFor();
  await page.locator("table.days tbody tr").first().waitFor();
  await page.locator(".applications").filter({ hasText: "Approved, commitment £200.00" }).waitFor();
  await visited(page, "the dashboard");
  await shot(page, "console-dashboard");
  await page.getByRole("navigation", { name: "This offer" }).getByRole("link", { name: "Pledges" }).click();
  const rows = page.locator("table.console-pledges tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), INVESTORS.length, "every pledge");
  await page.getByLabel("Reference or name").fill(investors[1].reference);
  await page.getByRole("button", { name: "Show" }).click();
  await page.locator("main").getByText("1 pledge on this page (filtered)").waitFor();
  assert.match(await rows.first().textContent(), new RegExp(investors[1].name));
  await page.getByLabel("Reference or name").fill("cara");
  await page.getByRole("button", { name: "Show" }).click();
  await page.locator("table.console-pledges tbody tr", { hasText: investors[2].reference }).waitFor();
  await page.getByLabel("Status").selectOption("paid");
  await page.getByLabel("Reference or name").fill("");
  await page.getByRole("button", { name: "Show" }).click();
  await page.getByText("No pledges match.").waitFor();
  await visited(page, "the pledges table (filtered)");
}

/** Another computer: a browser context of its own, signed in as `email` at `path`. */
async function elsewhere(browser, email, password, path) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, email, password, path);
  return { context, page };
}

/** Records a receipt by hand in the browser; the offer holds match money, so it waits for a second person. */
async function typeReceipt(page, inv, pounds) {
  await page.getByLabel("Payment reference").fill(inv.reference.toLowerCase());
  await page.getByLabel("Amount received (£)").fill(String(pounds));
  await page.getByRole("button", { name: "Record the receipt" }).click();
  const words = `Recorded ${formatPounds(pounds * 100)} for ${inv.reference}: it counts once another admin of the society confirms it (this offer has match funding, so a receipt typed by hand needs a second person).`;
  await page.getByRole("status").getByText(words, { exact: true }).waitFor();
}

async function receiptByHand(browser, page, offerId, [ada, ben]) {
  step("a part payment recorded by hand: the offer holds match money, so it waits for a second admin");
  await go(page, `/console/offers/${offerId}/receipts`);
  await visited(page, "record a receipt", /Record a bank receipt/);
  await typeReceipt(page, ada, 100);
  const typed = await call("GET", `/pledges/${ada.id}`, { token: ada.token, expect: 200 });
  assert.equal(typed.received_pence, 0, "a receipt awaiting a second admin does not count");
  assert.equal(typed.status, "pending");
  assert.deepEqual(typed.awaiting_confirmation.map((r) => r.amount_pence), [10_000], "the pledge shows the receipt awaiting confirmation");
  await visited(page, "a receipt awaiting a second admin");
  await typeReceipt(page, ben, 1); // typed in error: withdrawn below
  await page.getByLabel("Payment reference").fill("CSNOSUCHREF");
  await page.getByLabel("Amount received (£)").fill("5");
  await page.getByRole("button", { name: "Record the receipt" }).click();
  await (await errorNextTo(page.getByLabel("Payment reference"))).filter({ hasText: /reference/ }).waitFor();
  await visited(page, "a receipt the API refuses");

  step("the admin who typed them sees each on its pledge: may not confirm it (the API's reason beside the buttons); withdraws the one typed in error");
  const pledges = `/console/offers/${offerId}/pledges`;
  await go(page, pledges);
  const adaRow = page.locator(`tr[data-pledge="${ada.id}"]`);
  const benRow = page.locator(`tr[data-pledge="${ben.id}"]`);
  await adaRow.getByText(/^£100\.00 received on \d{1,2} \w+ \d{4}, typed by hand: awaiting a second admin's confirmation$/).waitFor();
  await page.getByText("2 receipts typed by hand await a second admin's confirmation.").waitFor();
  await visited(page, "pledges with receipts awaiting a second admin", /Pledges/);
  await adaRow.getByRole("button", { name: `Confirm receipt of £100.00 for ${ada.reference}` }).click();
  await adaRow.getByRole("alert").filter({ hasText: "you typed this receipt: another admin of the society must confirm it" }).waitFor();
  await visited(page, "a confirmation refused to the admin who typed it");
  await benRow.getByRole("button", { name: `Withdraw the receipt of £1.00 for ${ben.reference}` }).click();
  await page.getByRole("status").filter({ hasText: `Withdrawn. The £1.00 typed for ${ben.reference} never counted.` }).waitFor();
  assert.equal(await benRow.getByRole("button").count(), 0, "nothing awaits on Ben's pledge any more");
  await page.getByText("1 receipt typed by hand awaits a second admin's confirmation.").waitFor();
  assert.deepEqual((await call("GET", `/pledges/${ben.id}`, { token: ben.token, expect: 200 })).awaiting_confirmation, [], "withdrawn, it never counted");

  step("the co-admin may not confirm it either: the admin who typed it brought them in less than 7 days before");
  const co = await elsewhere(browser, CO_ADMIN.email, PASSWORD, pledges);
  const coRow = co.page.locator(`tr[data-pledge="${ada.id}"]`);
  await coRow.getByRole("button", { name: `Confirm receipt of £100.00 for ${ada.reference}` }).click();
  await coRow.getByRole("alert").filter({ hasText: /brought you in less than 7 days/ }).waitFor();
  await visited(co.page, "a confirmation refused to an admin the typist brought in");
  await co.context.close();

  step("a platform admin confirms it in the browser: the part payment counts");
  const second = await elsewhere(browser, env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"), pledges);
  const row = second.page.locator(`tr[data-pledge="${ada.id}"]`);
  await row.getByRole("button", { name: `Confirm receipt of £100.00 for ${ada.reference}` }).click();
  await second.page.getByRole("status").filter({ hasText: "Confirmed: £100.00 now counts." }).waitFor();
  await row.getByText(`£100.00 received, ${formatPounds(ada.amount - 10_000)} still to pay`).waitFor();
  assert.equal(await row.getByRole("button").count(), 0, "nothing awaits on Ada's pledge any more");
  assert.equal(await second.page.getByText(/typed by hand await/).count(), 0, "no receipt awaits a second admin");
  await visited(second.page, "a receipt confirmed by a second person");
  await second.context.close();
  const counted = await call("GET", `/pledges/${ada.id}`, { token: ada.token, expect: 200 });
  assert.equal(counted.received_pence, 10_000, "confirmed, the £100 counts");
  assert.deepEqual(counted.awaiting_confirmation, []);
  await go(page, pledges);
  await adaRow.getByText(`£100.00 received, ${formatPounds(ada.amount - 10_000)} still to pay`).waitFor();
}

function statement(investors) {
  const day = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/London" }).format(new Date());
  const [ada, ben, cara, dan] = investors;
  const money = (p) => `${Math.floor(p / 100)}.${String(p % 100).padStart(2, "0")}`;
  // Line 2 is Ada's £100 the treasurer recorded by hand today; line 7 a stray £5 from Ben that
  // the treasurer leaves out.
  const lines = [[ada.reference, 10_000], [ada.reference, ada.amount - 10_000], [ben.reference, ben.amount], [`PAYMENT ${cara.reference} THANKS`, cara.amount], [dan.reference, dan.amount], [ben.reference, 500], ["RENT FOR THE HALL", 1234]];
  return ["date,reference,amount", ...lines.map(([text, pence]) => `${day},${text},${money(pence)}`)].join("\n") + "\n";
}

async function importStatement(page, offerId, investors) {
  step("a bank statement: the preview (money recorded by hand recognised), a line left out, then applied");
  await go(page, `/console/offers/${offerId}/import`);
  await visited(page, "import a statement", /Import a bank statement/);
  await page.getByLabel("Bank statement file").setInputFiles({ name: "statement.csv", mimeType: "text/csv", buffer: Buffer.from(statement(investors)) });
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("heading", { name: "Preview: what this statement would record" }).waitFor();
  assert.equal(await page.locator("table.receipts tbody tr").count(), INVESTORS.length + 2, "a line per pledge, the hand receipt's and the stray");
  const byHand = page.locator('table.receipts tr[data-outcome="recorded_by_hand"]');
  assert.equal(await byHand.count(), 1, "Ada's £100 is the receipt recorded by hand");
  assert.match(await byHand.textContent(), /Already recorded by hand/);
  assert.equal(await byHand.getByRole("checkbox").count(), 0, "nothing to leave out of a line that does nothing");
  assert.equal(await page.locator("table.unmatched tbody tr").count(), 1, "one line matches nothing");
  const before = await call("GET", `/offers/${offerId}`, { token: investors[0].token });
  assert.equal(before.community_paid_pence, 0, "the preview keeps nothing");
  await visited(page, "the import preview");
  await shot(page, "console-import-preview");
  await page.getByLabel("Leave out line 7").check();
  await page.getByRole("button", { name: "Apply this statement" }).click();
  await page.getByRole("heading", { name: "Applied: what was recorded" }).waitFor();
  assert.equal(await page.locator("table.receipts tbody tr").count(), INVESTORS.length + 1, "the stray line was left out");
  const after = await call("GET", `/offers/${offerId}`, { token: investors[0].token });
  assert.equal(after.community_paid_pence, INVESTORS.reduce((s, [, a]) => s + a, 0), "every pledge paid");
  const refunds = await call("GET", `/offers/${offerId}/refunds`, { token: await login(ADMIN.email, PASSWORD), expect: 200 });
  assert.deepEqual(refunds.items, [], "nothing owed back: the hand receipt is not money twice, the stray line was left out");
  await visited(page, "the import applied");
}

async function bankRefund(page, offerId, dan) {
  step("an investor cancels a paid pledge in cooling-off (API); the treasurer marks the refund done");
  await call("POST", `/pledges/${dan.id}/cancel`, { token: dan.token, key: key(), expect: 200 });
  dan.cancelled = true;
  await go(page, `/console/offers/${offerId}/refunds`);
  const row = page.locator("tr[data-refund]", { hasText: dan.name });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(formatPounds(dan.amount).replace(/[.$]/g, "\\$&")));
  await visited(page, "refunds to make", /Refunds to make/);
  await row.getByRole("button", { name: `Mark as paid back to ${dan.name}` }).click();
  await page.getByText(`${formatPounds(dan.amount)} to ${dan.name} is marked as paid back.`).waitFor();
  const [left] = (await call("GET", `/offers/${offerId}/refunds?status=pending`, { token: await login(ADMIN.email, PASSWORD) })).items;
  assert.equal(left, undefined, "no refund is pending any more");
}

async function afterClose(page, offerId, investors) {
  step("after the close: close-out, the register and its CSV, refunds, ledger");
  await go(page, `/console/offers/${offerId}`);
  await page.getByRole("heading", { level: 2, name: "Close-out" }).waitFor();
  await page.locator(".steps [aria-current=step]").filter({ hasText: "Allocated" }).waitFor();
  await visited(page, "the close-out");
  await page.getByRole("link", { name: "See the share register" }).click();
  await page.getByRole("heading", { level: 1, name: /Share register/ }).waitFor();
  const rows = page.locator("table.register tbody tr");
  const members = investors.filter((inv) => !inv.cancelled);
  for (const inv of members) await rows.filter({ hasText: inv.name }).first().waitFor();
  await visited(page, "the share register");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download the register (CSV)" }).click()]);
  assert.match(download.suggestedFilename(), /^register-.+\.csv$/);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split(/\r?\n/);
  assert.ok(lines.length >= members.length + 1, `a header and a line per member: ${csv}`);
  assert.ok(!csv.includes(investors[3].name), "a refunded investor is no member");
  assert.ok(csv.includes(`Stroud Booster ${RUN}`), "the funder whose match became shares is a member");
  for (const inv of members) {
    const line = lines.find((l) => l.includes(inv.name));
    assert.ok(line, `${inv.name} is in the CSV`);
    assert.ok(line.includes(String(inv.amount / 500)), `${inv.name}'s ${inv.amount / 500} shares in: ${line}`);
  }
  summary.csvLines = lines.length;
  await page.getByRole("navigation", { name: "This offer" }).getByRole("link", { name: "Refunds" }).click();
  await page.getByText("No bank refunds are waiting.").waitFor();
  await visited(page, "refunds", /Refunds to make/);
  await page.getByRole("navigation", { name: "This offer" }).getByRole("link", { name: "Ledger" }).click();
  await page.locator("table.ledger tbody tr").first().waitFor();
  await visited(page, "the ledger", /Ledger/);
}

/** Tab (or Shift+Tab) until the focused element answers `test`. */


async function keyboardOffer(page, societyId) {
  step("the offer form with the keyboard alone (one mistake, fixed)");
  await go(page, `/console/societies/${societyId}`);
  await page.getByRole("heading", { level: 1 }).waitFor();
  await tabTo(page, `document.activeElement?.textContent === "Draft an offer"`, "the Draft an offer link");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Draft a share offer" }).waitFor();
  const typed = { ...TERMS, title: "Keyboard wind turbine", target: "1000", opens_at: ukLocal(1), closes_at: ukLocal(0.5) };
  for (const [name, value] of Object.entries(typed)) {
    await tabTo(page, focusedIs(name), name);
    await page.keyboard.press("Control+A");
    await page.keyboard.type(value);
  }
  await page.keyboard.press("Enter"); // the form is sent from its last field
  const closes = fieldInput(page, "closes_at");
  await (await errorNextTo(closes)).filter({ hasText: "Must be after the opening time." }).waitFor();
  assert.ok(await page.evaluate(focusedIs("closes_at")), "focus is on the field to fix");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(ukLocal(40));
  await page.keyboard.press("Enter");
  await page.getByText("The draft is saved.").waitFor();
  await tabTo(page, `document.activeElement?.textContent === "Submit for approval"`, "the submit button");
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return s.outlineStyle !== "none" || s.boxShadow !== "none";
  });
  assert.ok(ring, "the focused button shows its focus");
  await page.keyboard.press("Enter");
  await page.getByText("Submitted: the platform will review it.").waitFor();
  summary.keyboardOffer = decodeURIComponent(new URL(page.url()).hash.split("/").pop());
  await visited(page, "the keyboard-made offer");
  return ring;
}

/**
 * The keyboard-made offer (submitted, not yet open) applies to the fund and the funder approves
 * (API); the admin withdraws the application in the browser, asked once more in place, and the
 * commitment goes back to the fund. The first offer's approval is untouched.
 */
async function withdrawApplication(page, offerId, fund, funderAdmins, platform) {
  step("withdrawing an approved application before the offer opens (a second click confirms)");
  const society = await login(ADMIN.email, PASSWORD);
  await call("POST", `/offers/${offerId}/match-applications`, { token: society, body: { fund_id: fund.id }, expect: 201 });
  await funderCommits(offerId, fund, funderAdmins, platform);
  await go(page, `/console/offers/${offerId}`);
  await page.getByText("A fund's approval fixes the offer's terms; to change them, withdraw the application first (you cannot apply to the same fund again).").waitFor();
  const item = page.locator(".applications li").filter({ hasText: fund.name });
  await item.getByRole("button", { name: `Withdraw the application to ${fund.name}` }).click();
  const ask = item.getByRole("group", { name: `Confirm withdrawing the application to ${fund.name}` });
  await ask.getByText("Its commitment goes back to the fund").waitFor();
  await visited(page, "withdraw an application");
  await ask.getByRole("button", { name: "Yes, withdraw it" }).click();
  const done = page.locator(".applications li").filter({ hasText: fund.name }).getByText("Withdrawn by the society: the commitment went back to the fund.");
  await done.waitFor();
  assert.ok(await done.evaluate((el) => el === document.activeElement), "focus stays on the withdrawn application");
  assert.equal(await page.getByRole("button", { name: /Withdraw the application/ }).count(), 0, "nothing left to withdraw");
  const [released] = await call("GET", `/offers/${offerId}/match-applications`, { token: society, expect: 200 });
  assert.deepEqual([released.status, released.reason], ["released", "withdrawn by the society"]);
  await call("POST", `/offers/${offerId}/match-applications/${released.id}/withdraw`, { token: society, body: {}, expect: 409 });
}

async function errorPages(browser, page, offerId, investor) {
  step("errors that are not a field's: 409, 403, 503 (with Retry-After), each a clear page");
  await go(page, `/console/offers/${summary.keyboardOffer}/register`);
  await page.getByRole("heading", { level: 1, name: "Not possible now" }).waitFor();
  await visited(page, "409 page");
  const faked = `${BASE}/api/v1/offers/${offerId}/ledger`;
  const before = problems.length; // the faked 503 is expected (its console line and answer)
  await page.route(faked, (route) => route.fulfill({ status: 503, headers: { "Content-Type": "application/problem+json", "Retry-After": "7" }, body: JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "The database is busy; try again shortly." }) }));
  await go(page, `/console/offers/${offerId}/ledger`);
  await page.getByRole("heading", { level: 1, name: "The service is busy" }).waitFor();
  await page.getByText("The server asks to wait 7 seconds.").waitFor();
  await visited(page, "503 page");
  await page.unroute(faked);
  const seen = problems.splice(before);
  problems.push(...seen.filter((p) => !/503/.test(p)));
  await page.getByRole("button", { name: "Try again" }).click();
  await page.getByRole("heading", { level: 1, name: /Ledger/ }).waitFor();
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const stranger = await other.newPage();
  watch(stranger, problems);
  await signIn(stranger, BASE, investor.email, PASSWORD, `/console/offers/${offerId}/pledges`);
  await stranger.getByRole("heading", { level: 1, name: "Not allowed" }).waitFor();
  await visited(stranger, "403 page");
  await other.close();
}

async function cancelOffer(page, offerId) {
  step("cancelling an offer: a confirmation that says what happens to the money");
  await go(page, `/console/offers/${offerId}`);
  await page.getByRole("link", { name: "Cancel this offer…" }).click();
  await page.getByText("What happens to the money:").waitFor();
  assert.match(await page.locator("main .notice").textContent(), /refunded in full.*Match funding/s);
  await visited(page, "cancel the offer", /^Cancel /);
  await page.getByRole("button", { name: "Yes, cancel the offer" }).click();
  await page.getByText("The offer is cancelled.").waitFor();
  await page.locator(".state").filter({ hasText: "State: Cancelled" }).waitFor();
  await visited(page, "the cancelled offer");
}

async function phone(browser, offerId) {
  step("a 390 px phone: the dashboard and the pledges without sideways scrolling");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB", isMobile: true, hasTouch: true });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, ADMIN.email, PASSWORD, `/console/offers/${offerId}`);
  for (const [where, path, ready] of [["dashboard", "", "svg.chart"], ["pledges", "/pledges", "table.console-pledges"]]) {
    await go(page, `/console/offers/${offerId}${path}`);
    await page.locator(ready).first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the ${where} is ${width}px wide on a 390px phone`);
    summary[`phone_${where}_width`] = width;
    await visited(page, `phone ${where}`);
  }
  await context.close();
}

/** Compressed sizes (gzip, as served) of the investor page's first load and of the console's code. */
async function sizes() {
  const get = async (path) => Buffer.from(await (await fetch(`${BASE}${path}`)).arrayBuffer());
  const gz = (buf) => gzipSync(buf, { level: 9 }).length;
  const html = await get("/");
  const assets = [...html.toString().matchAll(/"(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(!assets.some((a) => a.includes("console")), "the first load names no console file");
  const version = assets[0].split("/")[2];
  let first = gz(html);
  for (const a of [...assets, `/assets/${version}/pages.js`]) first += gz(await get(a));
  let consoleBytes = 0;
  for (const name of ["console.js", "console-money.js", "console-format.js"]) consoleBytes += gz(await get(`/assets/${version}/${name}`));
  assert.ok(first < 100_000, `the investor page's first load is ${first} bytes compressed`);
  assert.ok(consoleBytes < 100_000, `the console's code is ${consoleBytes} bytes compressed`);
  return { firstLoadGzipBytes: first, consoleModuleGzipBytes: consoleBytes };
}

/** Whether a page load fetched console code (it must not, for a visitor). */
async function visitorLoadsNoConsole(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const fetched = [];
  page.on("request", (r) => fetched.push(r.url()));
  await page.goto(`${BASE}/`, { waitUntil: "networkidle" });
  await context.close();
  assert.ok(!fetched.some((u) => u.includes("/console")), "a visitor's page fetches no console code");
}

const browser = await launch();
let current = null; // the admin's page, for a screenshot and its text when a step fails
try {
  const platform = await login(env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"));
  await account(ADMIN.email, ADMIN.name);
  await account(CO_ADMIN.email, CO_ADMIN.name);
  const { fund, funderAdmins } = await fundScene(platform);
  Object.assign(summary, await sizes());
  await visitorLoadsNoConsole(browser);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB", acceptDownloads: true });
  const page = await context.newPage();
  current = page;
  watch(page, problems);
  const societyId = await registerSociety(page);
  await bankAndAdmins(page);
  const offerId = await draftOffer(page);
  await go(page, `/console/offers/${offerId}/register`);
  await page.getByRole("heading", { level: 1, name: "Not possible now" }).waitFor();
  await go(page, `/console/offers/${offerId}`);
  await page.getByRole("heading", { level: 1, name: TERMS.title }).waitFor();
  await applyAndSubmit(page, offerId, fund);

  step("the funder's two admins commit (one approves, the other confirms); the platform approves; the offer opens; investors pledge (API)");
  await funderCommits(offerId, fund, funderAdmins, platform);
  await call("POST", `/offers/${offerId}/approve`, { token: platform, expect: 200 });
  await waitForStatus(offerId, platform, ["open"]);
  const investors = await investorsPledge(offerId);
  investors.forEach((inv, i) => (inv.email = `console-investor${i}-${RUN}@example.org`));

  await dashboardAndPledges(page, offerId, investors);
  await receiptByHand(browser, page, offerId, investors);
  await importStatement(page, offerId, investors);
  await phone(browser, offerId);
  await bankRefund(page, offerId, investors[3]);

  step("the platform closes the offer (API); the close-out allocates");
  await call("POST", `/offers/${offerId}/close`, { token: platform, expect: 200 });
  summary.finalStatus = await waitForStatus(offerId, platform, ["allocated", "failed", "refunded"]);
  assert.equal(summary.finalStatus, "allocated");
  await afterClose(page, offerId, investors);
  summary.keyboardFocusVisible = await keyboardOffer(page, societyId);
  await withdrawApplication(page, summary.keyboardOffer, fund, funderAdmins, platform);
  await errorPages(browser, page, offerId, investors[0]);
  await cancelOffer(page, summary.keyboardOffer);

  assert.deepEqual(problems, [], "no console errors, page errors or 5xx answers");
  summary.offer = offerId;
  summary.society = societyId;
  console.log(JSON.stringify({ "e2e-console": "passed", ...summary }));
} catch (err) {
  console.error(`e2e-console FAILED: ${err.stack ?? err.message}`);
  if (problems.length) console.error(`also seen: ${problems.join("; ")}`);
  if (current) console.error(`the page at ${current.url()} shows: ${(await current.locator("main").textContent().catch(() => "")).slice(0, 600)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
