// The funder console in headless Chromium, against the real server: the platform makes a funder
// and invites its first two admins, A (who accepts through the API) and B; C registers; a
// society opens an offer that investors pledge to (all through the API). In the browser A sees
// the funder's name as the heading (no funds yet), the notice that approving needs a second
// admin, and under Admins A and B's open invitation; B signs in, sees the invitation on the page
// they land on, accepts it there (the confirmation links to the funder console, which the
// navigation now offers); A's home then has no notice, lists both admins, and its audit trail
// has each joining. A invites a co-admin on the console's home: an unknown email first (the
// API's 422 under the field), then C (waiting for a second admin to agree, in the message and
// under Admins), then B, already an admin (the 409 under the field, the success gone).
// A builds a fund by keyboard alone with one mistake (the API's message
// under its field), fixes it, and sets every approval to need a second admin; the society applies
// (API); A simulates the match (figures, a chart with the cap per investor and the point the
// trigger is met drawn and named in its text alternative, and a table), and for a second fund
// whose trigger the pledges miss (API) sees the "not met" note; A approves (awaiting confirmation,
// "Approved by Alex Grants"), cannot confirm their own approval (the API's 403 shown); B signs in
// and confirms ("Confirmed by Bea Trustee"); the overview shows the commitment, and the offer's
// public page, to an anonymous visitor, names the funder and the fund as a match funder. The
// society's second offer applies (API); A approves it (awaiting); B declines it, first with no
// reason (the API's message under the field), then with one ("Declined by Bea Trustee", the reason,
// pending again with the approve form back, the hold returned to the fund); B then rejects it with
// a reason, which the card, the fund's application list and the society's view (API) show. axe-core
// on every page; no console errors, no 5xx. Exits non-zero with the reason on the first failure; prints a JSON summary on success.
//
// Environment: BASE_URL, PLATFORM_EMAIL, PLATFORM_PASSWORD (a platform admin), SCREENSHOTS (a
// folder for funder-rule-builder.png and funder-simulation.png, or empty), CS_E2E_CHROMIUM.

import assert from "node:assert/strict";
import { accessible, apiClient, env, errorNextTo, focusedIs, go, launch, recorder, signIn, step, tabTo, watch, TEST_PASSWORD } from "./browser.mjs";

const BASE = env("BASE_URL").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOTS ?? "";
const RUN = Date.now().toString(36);
const PASSWORD = TEST_PASSWORD;
const A = { email: `funder-a-${RUN}@example.org`, name: "Alex Grants" };
const B = { email: `funder-b-${RUN}@example.org`, name: "Bea Trustee" };
const C = { email: `funder-c-${RUN}@example.org`, name: "Cy Treasurer" };
const SOCIETY = { email: `funder-society-${RUN}@example.org`, name: "Sol Treasurer" };
const PLEDGES = [["Ada Lovelace", 30_000], ["Ben Okafor", 20_000], ["Cara Jones", 10_000]];
const OFFER_TITLE = `Solar roofs for Riverside ${RUN}`;
const SECOND_TITLE = `Heat pumps for Riverside ${RUN}`;
const DECLINE_REASON = "The society's accounts for last year are overdue";
const REJECT_REASON = "We fund solar and wind only this year; heat pumps are out of scope.";
const WORDS = "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer; matched as pledges arrive";
const problems = [];
const summary = { pages: [] };
const { shot, visited } = recorder(SHOTS, summary);

// ---------------------------------------------------------------------------------------------
// The API side

const { call, login, account, waitForStatus, invite, makeAdmin } = apiClient(BASE);
/** `text` as a regular expression matching it literally. */
const literally = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const key = () => crypto.randomUUID();


async function scene(platform) {
  const funder = await call("POST", "/funders", { token: platform, body: { name: `Stroud Community Fund ${RUN}` }, expect: 201 });
  // The platform invites the funder's first two admins: A accepts here (API), B in the browser
  // (acceptThroughThePage); A invites C in the browser (addCoAdmin).
  for (const who of [A, B, C]) await account(who.email, who.name);
  await makeAdmin("funder", funder.id, A.email, platform);
  await invite("funder", funder.id, B.email, platform, "invited");
  const society = await account(SOCIETY.email, SOCIETY.name);
  const reg = `RS${String(Date.now() % 1_000_000).padStart(6, "0")}`;
  const s = await call("POST", "/societies", { token: society, body: { name: `Riverside Energy ${RUN}`, kind: "community_benefit_society", registration_number: reg, postcode: "GL5 1AA" }, expect: 201 });
  await call("PUT", `/societies/${s.id}/bank-details`, { token: society, body: { account_name: "Riverside Energy Ltd", sort_code: "123456", account_number: "12345678" }, expect: 200 });
  const offerId = await openOffer(platform, society, s.id, OFFER_TITLE);
  for (const [i, [name, amount]] of PLEDGES.entries()) {
    const token = await account(`funder-investor${i}-${RUN}@example.org`, name.split(" ")[0]);
    await call("PUT", "/me/profile", { token, body: { full_name: name, address_line1: `${i + 1} Mill Lane`, town: "Stroud", postcode: "GL5 1AA", date_of_birth: "1980-05-01" }, expect: 200 });
    await call("POST", `/offers/${offerId}/pledges`, { token, key: key(), body: { amount_pence: amount, payment_method: "bank_transfer", accept_terms: true }, expect: 201 });
  }
  const secondOfferId = await openOffer(platform, society, s.id, SECOND_TITLE);
  return { funder, society, offerId, secondOfferId };
}

/** An offer the society drafts and submits and the platform approves, once open (API); answers its id. */
async function openOffer(platform, society, societyId, title) {
  const now = Date.now();
  const offer = await call("POST", `/societies/${societyId}/offers`, {
    token: society, expect: 201,
    body: {
      title, summary: "Panels on the school and the village hall.", share_price_pence: 100,
      min_target_pence: 1_000_000, target_pence: 2_000_000, max_target_pence: 3_000_000, min_holding_pence: 10_000, max_holding_pence: 500_000,
      opens_at: new Date(now - 60_000).toISOString(), closes_at: new Date(now + 30 * 86_400_000).toISOString(),
      cooling_off_days: 14, interest_rate_bps: 300, document_url: "https://example.org/riverside-offer.pdf",
    },
  });
  await call("POST", `/offers/${offer.id}/submit`, { token: society, body: {}, expect: 200 });
  await call("POST", `/offers/${offer.id}/approve`, { token: platform, body: {}, expect: 200 });
  await waitForStatus(offer.id, platform, "open");
  return offer.id;
}


// ---------------------------------------------------------------------------------------------
// Browser helpers

/** An SVG image's text alternative: the title and the description it is labelled by. */
const altText = (image) => image.evaluate((el) => el.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id).textContent).join(" "));

/** The simulation shows the cap per investor (£250) and the trigger (met from the start) in its figures, on the chart and in its text alternative. */
async function capAndTrigger(card, chart, alt) {
  const figures = await card.locator("dl.sim-figures").textContent();
  for (const s of ["Commitment£5,000.00", "Budget for these pledges£5,000.00", "Cap per investor£250.00", "TriggerMet from the start"]) assert.ok(figures.includes(s), `the figures show ${s}: ${figures}`);
  assert.match(alt, /A dashed line marks the cap per investor, £250\.00\./, "the text alternative names the cap");
  assert.match(alt, /The trigger is met from the start/, "the text alternative names the trigger");
  const cap = chart.locator("line.cap-line");
  assert.equal(await cap.count(), 1, "a line at the cap per investor");
  assert.equal(await chart.locator("text.cap-label").textContent(), "cap per investor £250");
  const capY = Number(await cap.getAttribute("y1"));
  const tops = await chart.locator("rect.match").evaluateAll((bars) => bars.map((b) => Number(b.getAttribute("y"))));
  assert.ok(Math.abs(tops[0] - capY) < 0.01, "the first pledge's match reaches the cap");
  assert.ok(tops.every((y) => y >= capY - 0.01), "no bar goes above the cap");
  const trigger = chart.locator("line.trigger-line");
  assert.equal(await trigger.count(), 1, "a line where the trigger is met");
  assert.equal(await chart.locator("text.trigger-label").textContent(), "trigger met");
  const firstBar = Number(await chart.locator("rect.match").first().getAttribute("x"));
  assert.ok(Number(await trigger.getAttribute("x1")) < firstBar, "met from the start: the line is before the first pledge");
  assert.equal(await card.locator(".trigger-not-met").count(), 0, "no 'not met' note");
}

/** A second fund whose trigger (£1,000 pledged) the offer's £600 does not meet: the note, no trigger line, nothing matched. */
async function triggerNotMet(page, funder, offerId, society) {
  step("a fund whose trigger the pledges do not meet: the note, the cap line, no trigger line");
  const a = await login(A.email, PASSWORD);
  const rule = { kind: "per_pledge", ratio_num: 1, ratio_den: 1, per_pledge_cap_pence: 10_000, per_offer_cap_pence: 200_000, trigger: { kind: "amount", value: 100_000 }, timing: "live" };
  const fund = await call("POST", `/funders/${funder.id}/funds`, { token: a, key: key(), body: { name: `Riverside Later ${RUN}`, budget_pence: 500_000, rule }, expect: 201 });
  await call("POST", `/offers/${offerId}/match-applications`, { token: society, body: { fund_id: fund.id }, expect: 201 });
  await go(page, `/funder/funds/${fund.id}`);
  await visited(page, "the second fund's overview", `Riverside Later ${RUN}`);
  const card = page.locator("main section.application").filter({ hasText: OFFER_TITLE });
  await card.waitFor();
  await card.getByRole("button", { name: "Simulate the match" }).click();
  const chart = card.locator('svg.sim-chart[role="img"]');
  await chart.waitFor();
  const note = card.locator(".trigger-not-met");
  assert.match(await note.textContent(), /The trigger is not met yet/, "a visible note");
  assert.equal(await chart.locator("line.trigger-line").count(), 0, "no trigger line");
  assert.equal(await chart.locator("line.cap-line").count(), 1, "the cap line still");
  const alt = await altText(chart);
  assert.match(alt, /A match of £0\.00 over 3 pledges/);
  assert.match(alt, /The trigger is not met yet by the current pledges, so nothing is matched\./, "the text alternative says the trigger is not met");
  assert.match(alt, /cap per investor, £100\.00/);
  assert.match(await card.locator("dl.sim-figures").textContent(), /TriggerNot met yet by the current pledges/);
  summary.simulationNotMet = alt;
  await accessible(page, "simulation, trigger not met");
  summary.pages.push("simulation, trigger not met");
}

/** The proof: once B confirms, the offer's public page names the funder and the fund as a match funder. */
async function publicMatchFunders(browser, funder, offerId, fundId) {
  step("an anonymous visitor sees the funder on the offer's public page");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const visitor = await context.newPage();
  watch(visitor, problems);
  await visitor.goto(`${BASE}/#/offers/${offerId}`);
  await visited(visitor, "public offer page with its match funder", OFFER_TITLE);
  const item = visitor.locator("main ul.funders li").filter({ hasText: funder.name });
  await item.waitFor();
  assert.match(await item.textContent(), /\(Riverside Match .+\): £550\.00 matched so far, up to £4,000\.00/);
  assert.equal(await item.getByRole("link", { name: `Riverside Match ${RUN}` }).getAttribute("href"), `#/funds/${fundId}`);
  summary.publicMatchFunder = (await item.textContent()).trim();
  await context.close();
}

/** The second offer's card on the fund's overview. */
const secondCard = (page) => page.locator("main section.application").filter({ hasText: SECOND_TITLE });

/** The fund's committed, awaiting and available money (API). */
async function fundMoney(fundId) {
  const f = await call("GET", `/funds/${fundId}`);
  return { committed: f.committed_pence, awaiting: f.awaiting_confirmation_pence, available: f.available_pence };
}

/** A, at another computer (a context of its own), approves £1,500 for the second offer: awaiting B. */
async function approveSecond(browser, fundId) {
  step("the society's second offer applies (API); A approves £1,500 in the browser: awaiting a second admin");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, A.email, PASSWORD, `/funder/funds/${fundId}`);
  const card = secondCard(page);
  await card.waitFor();
  await card.locator('[name="commitment"]').fill("1500");
  await card.getByRole("button", { name: "Approve", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Awaiting confirmation by another admin: £1,500.00" }).waitFor();
  await visited(page, "second application awaiting confirmation (A)", `Riverside Match ${RUN}`);
  assert.match(await card.locator(".confirmation-words").textContent(), /^Approved by Alex Grants \(you\) at .+ for £1,500\.00, awaiting a second admin\.$/);
  await context.close();
}

/** B alone asks to drop the second approval: it waits for another admin, and the rule holds. */
async function relaxAlone(page, fundId) {
  step("B alone asks to drop the second approval: it waits for a second admin; the rule still holds");
  await go(page, `/funder/funds/${fundId}`);
  await visited(page, "fund overview before relaxing", `Riverside Match ${RUN}`);
  const form = page.getByRole("form", { name: "Second approval" });
  await form.locator('[name="threshold"]').fill("");
  await form.getByRole("button", { name: "Save the second approval" }).click();
  const said = page.getByRole("status").filter({ hasText: "Relaxing the rule takes two people too" });
  await said.waitFor();
  await visited(page, "fund overview, a relaxation waiting for a second admin", `Riverside Match ${RUN}`);
  const fund = await call("GET", `/funds/${fundId}`);
  assert.equal(fund.second_approval_threshold_pence, 0, "the rule still holds");
  assert.equal(fund.second_approval_change?.threshold_pence, null, "the relaxation waits");
  const asked = (await page.locator("main dl.fund-money div").filter({ has: page.locator("dt", { hasText: /^Asked to relax$/ }) }).locator("dd").textContent()).trim();
  assert.match(asked, /^Not needed: one admin's approval commits the money, asked at .+: it changes when a second admin asks for the same$/);
  summary.relaxation = asked;
}

/** B declines A's approval: first with no reason (the API's message under the field), then with one. */
async function declineSecond(page, fundId) {
  step("B declines it: no reason (refused, the message under the field), then a reason");
  await go(page, `/funder/funds/${fundId}`);
  await visited(page, "fund overview, a second approval awaiting B", `Riverside Match ${RUN}`);
  const card = secondCard(page);
  assert.match(await card.locator(".confirmation-words").textContent(), /^Approved by Alex Grants at .+ for £1,500\.00, awaiting a second admin\.$/, "B sees who asked");
  const reason = card.locator('.decline-form [name="reason"]');
  await card.getByRole("button", { name: "Decline the approval" }).click();
  const error = await errorNextTo(reason);
  await error.waitFor({ state: "visible" });
  summary.declineError = (await error.textContent()).trim();
  assert.ok(summary.declineError.length > 0, "the API's message under the reason");
  assert.equal(await reason.getAttribute("aria-invalid"), "true");
  assert.ok(await reason.evaluate((el) => el === document.activeElement), "focus moves to the reason");
  await accessible(page, "decline with no reason");
  summary.pages.push("decline with no reason");
  await reason.fill(DECLINE_REASON);
  await card.getByRole("button", { name: "Decline the approval" }).click();
  await page.getByRole("status").filter({ hasText: "Declined: the money held for it is available again." }).waitFor();
  await visited(page, "fund overview after the decline", `Riverside Match ${RUN}`);
  const words = (await card.locator(".confirmation-words").textContent()).trim();
  assert.match(words, /^Declined by Bea Trustee \(you\) at .+\. Reason: The society's accounts for last year are overdue\. Approved by Alex Grants at .+ for £1,500\.00\.$/, "who declined, why, and who asked");
  summary.declined = words;
  assert.match(await card.locator("dl.terms").first().textContent(), /StatusWaiting for a decision/, "pending again");
  await card.locator("form.approve-form").getByRole("button", { name: "Approve", exact: true }).waitFor();
  assert.match(await card.locator("form.approve-form .hint").textContent(), /the fund has £6,000\.00 available/, "the hold is back in what the fund has available");
  assert.equal(await card.locator(".decline-form").count(), 0, "nothing awaits a decline now");
}

/** B rejects the (pending again) application with a reason: the card, the fund's list and the society see it. */
async function rejectSecond(page, fundId, secondOfferId, society) {
  step("B rejects it with a reason: the card, the fund's applications and the society (API) show it");
  const card = secondCard(page);
  await card.getByText("Reject this application").click();
  const reason = card.locator('.reject-form [name="reason"]');
  await reason.waitFor({ state: "visible" });
  await accessible(page, "reject form open");
  summary.pages.push("reject form open");
  await reason.fill(REJECT_REASON);
  await card.getByRole("button", { name: "Reject", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Rejected. The society is told why." }).waitFor();
  await visited(page, "fund overview after the rejection", `Riverside Match ${RUN}`);
  const terms = await card.locator("dl.terms").first().textContent();
  assert.ok(terms.includes("StatusRejected"), `the card says Rejected: ${terms}`);
  assert.ok(terms.includes(`Reason${REJECT_REASON}`), `the card shows the reason: ${terms}`);
  assert.equal(await card.locator("form").count(), 0, "no decision forms on a rejected application");
  const b = await login(B.email, PASSWORD);
  const listed = (await call("GET", `/funds/${fundId}/applications`, { token: b, expect: 200 })).items.find((x) => x.offer_id === secondOfferId);
  assert.deepEqual([listed.status, listed.reason], ["rejected", REJECT_REASON], "the fund's list: rejected, with the reason");
  const seen = (await call("GET", `/offers/${secondOfferId}/match-applications`, { token: society, expect: 200 })).find((x) => x.fund_id === fundId);
  assert.deepEqual([seen.status, seen.reason], ["rejected", REJECT_REASON], "the society sees the reason");
  summary.rejected = { status: seen.status, reason: seen.reason };
}

const words = (page) => page.locator("main .rule-words").textContent();

/** A's home while A is the funder's only admin: the notice, A under Admins, B's invitation open, A's joining in the audit trail. */
async function oneAdmin(page, funder, platformName) {
  step("A alone: the notice that approving needs a second admin; Admins lists A and B's open invitation");
  const home = page.locator(`main section[data-funder="${funder.id}"]`);
  await home.getByRole("heading", { level: 2, name: funder.name, exact: true }).waitFor();
  assert.equal((await home.locator(".second-admin-needed").textContent()).trim(), "Approving needs a second admin of this funder. Invite one below.");
  const admins = await home.locator("section.funder-admins ul.admins li").allTextContents();
  assert.equal(admins.length, 1, `one admin: ${admins}`);
  assert.match(admins[0], new RegExp(`^${A.name} \\(${literally(A.email)}\\), admin since \\d{1,2} \\w+ \\d{4}, invited by ${literally(platformName)}$`));
  const open = home.locator('section.funder-admins li[data-status="invited"]');
  assert.match(await open.textContent(), new RegExp(`^${B.name} \\(${literally(B.email)}\\): Waiting for them to accept\\. Invited by ${literally(platformName)} on .+\\.$`));
  const joined = home.locator('section.funder-audit tr[data-action="admin_joined"]');
  assert.equal(await joined.count(), 1, "A's joining is in the audit trail");
  assert.equal((await joined.locator("td").nth(1).textContent()).trim(), A.name, "who joined");
  await accessible(page, "funder console home, one admin");
  summary.pages.push("funder console home, one admin");
}

/** B, invited by the platform, signs in, lands on the page with the Invitations section and accepts there. */
async function acceptThroughThePage(browser, funder, platformName) {
  step("B signs in: the invitation on the page they land on; B accepts it there");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, B.email, PASSWORD, "/");
  await visited(page, "the page B lands on, with an invitation", "Open share offers");
  const section = page.locator("main section.invitations");
  await section.getByRole("heading", { level: 2, name: "Invitations" }).waitFor();
  const item = section.locator("li.invitation").filter({ hasText: funder.name });
  assert.match(await item.textContent(), new RegExp(`^Join ${literally(funder.name)} as an admin of this funder — invited by ${literally(platformName)} on \\d{1,2} \\w+ \\d{4}`));
  await item.getByRole("button", { name: `Accept the invitation to ${funder.name}` }).click();
  const done = section.locator(".success").filter({ hasText: `You are now an admin of ${funder.name}.` });
  await done.waitFor();
  assert.ok(await done.evaluate((el) => el === document.activeElement), "focus moves to what accepting did");
  const link = done.getByRole("link", { name: "Open the funder console" });
  assert.equal(await link.getAttribute("href"), `#/funder/${funder.id}`);
  await page.locator('#nav a[href="#/funder"]').waitFor(); // the navigation asked /me again
  await accessible(page, "invitation accepted");
  summary.pages.push("invitation accepted");
  summary.accepted = (await done.textContent()).trim();
  assert.deepEqual(await call("GET", "/me/invitations", { token: await login(B.email, PASSWORD), expect: 200 }), [], "nothing waits for B now");
  await link.click();
  await visited(page, "the funder console B was linked to", "Funder console");
  await page.getByRole("heading", { level: 2, name: funder.name, exact: true }).waitFor();
  await context.close();
}

/** A's home with B in: no notice, both admins, B's joining in the audit trail (newest first). */
async function twoAdmins(page, funder) {
  step("B is in: the notice goes; Admins lists A and B; the audit trail has B joining");
  await go(page, "/funder");
  const home = page.locator(`main section[data-funder="${funder.id}"]`);
  await home.getByRole("heading", { level: 2, name: funder.name, exact: true }).waitFor();
  assert.equal(await home.locator(".second-admin-needed").count(), 0, "two admins: no notice");
  const admins = await home.locator("section.funder-admins ul.admins li").allTextContents();
  assert.deepEqual(admins.map((a) => a.split(" (")[0]), [A.name, B.name], "both admins, oldest first");
  assert.equal(await home.locator("section.funder-admins ul.open-invitations").count(), 0, "no invitation open");
  const trail = home.locator("section.funder-audit tbody tr");
  assert.equal(await trail.first().getAttribute("data-action"), "admin_joined", "newest first: B joining");
  const cells = await trail.first().locator("td").allTextContents();
  assert.equal(cells[1], B.name, "who");
  assert.ok(cells[2].includes(B.name), `what, in words: ${cells[2]}`);
  assert.ok(cells[3].length > 0, "the request's id");
  assert.deepEqual(await home.locator("section.funder-audit thead th").allTextContents(), ["When (UK time)", "Who", "What", "Request id"]);
  summary.auditJoined = cells[2];
  await visited(page, "funder console home, two admins", "Funder console");
}

/** A, on the console's home (the funder has no fund yet), invites C as a co-admin. */
async function addCoAdmin(page, funder) {
  step("A invites a co-admin: an unknown email (422), then C (awaiting a second admin), then B, already an admin (409)");
  await page.getByRole("heading", { level: 2, name: funder.name, exact: true }).waitFor();
  const form = page.getByRole("form", { name: "Add an admin to this funder" }); // named by its heading
  const email = form.locator('[name="email"]');
  const add = form.getByRole("button", { name: "Add admin" });
  const status = page.locator("main .add-admin [role=status]");
  await email.fill(`nobody-${RUN}@example.org`);
  await add.click();
  const error = await errorNextTo(email);
  await error.filter({ hasText: /no account has this email/i }).waitFor();
  assert.equal(await email.getAttribute("aria-invalid"), "true");
  assert.ok(await page.evaluate(focusedIs("email")), "focus moves to the email");
  summary.coAdminUnknown = (await error.textContent()).trim();
  await accessible(page, "add an admin, unknown email");
  summary.pages.push("add an admin, unknown email");
  await email.fill(C.email);
  await add.click();
  await status.filter({ hasText: `Waiting for a second admin of this funder to agree: ask another admin to add ${C.email} too.` }).waitFor();
  assert.equal(await error.isHidden(), true, "the last message goes");
  const open = page.locator('main section.funder-admins li[data-status="awaiting_second_admin"]').filter({ hasText: C.email });
  await open.waitFor(); // the Admins section is drawn again
  assert.match(await open.textContent(), new RegExp(`^${C.name} \\(${literally(C.email)}\\): Waiting for a second admin of this funder to agree\\. Asked by ${A.name} on .+\\.$`));
  await email.fill(B.email);
  await add.click();
  await error.filter({ hasText: /already an admin/i }).waitFor();
  assert.equal((await status.textContent()).trim(), "", "the success message goes when the next attempt fails");
  await visited(page, "funder console home, co-admin invited");
  await go(page, "/funder"); // afresh: focus back at the top for the keyboard steps
  await page.getByRole("heading", { level: 1, name: "Funder console" }).waitFor();
}

/** The fund form by keyboard alone: Tab to each field, type, Enter to send. */
async function buildFund(page, funderId) {
  step("A builds a fund by keyboard alone, with ratio 1 for every 0 (refused), then fixed");
  await tabTo(page, `document.activeElement?.textContent === "Create a fund"`, "the Create a fund link");
  await page.keyboard.press("Enter");
  await visited(page, "new fund (rule builder)", "Create a fund");
  assert.ok(page.url().endsWith(`#/funder/${funderId}/funds/new`));
  const type = async (name, text) => {
    await tabTo(page, focusedIs(name), name);
    await page.keyboard.press("Control+A");
    await page.keyboard.type(text);
  };
  await type("name", `Riverside Match ${RUN}`);
  await type("budget", "10000");
  await type("per_pledge_cap", "250");
  await type("per_offer_cap", "5000");
  assert.equal(await words(page), WORDS, "the rule in words as typed");
  for (let i = 0; i < 4 && !(await page.evaluate(focusedIs("ratio_den"))); i++) await page.keyboard.press("Shift+Tab");
  assert.ok(await page.evaluate(focusedIs("ratio_den")), "Shift+Tab back to the ratio");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("0");
  assert.match(await words(page), /Set the match ratio/);
  await page.keyboard.press("Enter");
  const den = page.locator('main [data-field="rule.ratio_den"]');
  const error = await errorNextTo(den);
  await error.waitFor({ state: "visible" });
  const message = await error.textContent();
  assert.match(message, /at least 1/i, "the API's message under the ratio");
  assert.equal(await den.getAttribute("aria-invalid"), "true");
  assert.ok(await page.evaluate(focusedIs("ratio_den")), "focus moves to the field with the error");
  summary.fundFormError = message;
  await accessible(page, "new fund with an error");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("1");
  assert.equal(await words(page), WORDS, "the rule in words after the fix");
  await shot(page, "funder-rule-builder");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: `Riverside Match ${RUN}` }).waitFor();
  const fundId = decodeURIComponent(page.url().split("#/funder/funds/")[1]);
  summary.ruleWords = WORDS;
  return fundId;
}

// ---------------------------------------------------------------------------------------------

const browser = await launch();
let current = null;
try {
  const platform = await login(env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"));
  step("the platform makes a funder with admin A; B registers; a society opens an offer; investors pledge (API)");
  const { funder, society, offerId, secondOfferId } = await scene(platform);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  current = page;
  watch(page, problems);
  await signIn(page, BASE, A.email, PASSWORD, "/funder");
  await visited(page, "funder console home", "Funder console");
  await page.locator('#nav a[href="#/funder"]').waitFor();
  const platformName = (await call("GET", "/me", { token: platform, expect: 200 })).display_name;
  await oneAdmin(page, funder, platformName);
  await acceptThroughThePage(browser, funder, platformName);
  await twoAdmins(page, funder);
  await addCoAdmin(page, funder);

  const fundId = await buildFund(page, funder.id);
  await visited(page, "fund overview (new)");
  const fund = await call("GET", `/funds/${fundId}`);
  assert.equal(fund.budget_pence, 1_000_000);
  assert.deepEqual([fund.rule.ratio_num, fund.rule.ratio_den, fund.rule.per_pledge_cap_pence, fund.rule.per_offer_cap_pence], [1, 1, 25_000, 500_000]);
  assert.equal(fund.second_approval_threshold_pence, 0, "a new fund needs a second admin for every approval");

  step("A sets every approval to need a second admin (threshold £0)");
  await page.locator('main [name="threshold"]').fill("0");
  await page.getByRole("button", { name: "Save the second approval" }).click();
  await page.getByRole("status").filter({ hasText: "Every approval needs a second admin" }).waitFor();
  assert.equal((await call("GET", `/funds/${fundId}`)).second_approval_threshold_pence, 0);

  step("the society applies (API); A simulates the match");
  await call("POST", `/offers/${offerId}/match-applications`, { token: society, body: { fund_id: fundId }, expect: 201 });
  await go(page, `/funder/funds/${fundId}`);
  const card = page.locator("main section.application").filter({ hasText: OFFER_TITLE });
  await card.waitFor();
  await visited(page, "fund overview with a pending application");
  assert.match(await card.textContent(), /cap per offer is £5,000\.00; the fund has £10,000\.00 available/);
  // The offer's terms, progress and society, from the application list itself.
  const terms = await card.locator("dl.terms").first().textContent();
  for (const want of ["StatusWaiting for a decision", "OfferOpen; ", `Riverside Energy ${RUN}, a community benefit society`, "minimum £10,000.00, target £20,000.00, maximum £30,000.00", `£600.00 pledged by ${PLEDGES.length} investors`]) {
    assert.ok(terms.includes(want), `the application shows "${want}": ${terms}`);
  }
  await card.getByRole("button", { name: "Simulate the match" }).click();
  const chart = card.locator('svg.sim-chart[role="img"]');
  await chart.waitFor();
  assert.equal(await chart.locator("rect.match").count(), PLEDGES.length, "one bar per pledge");
  const alt = await altText(chart);
  assert.match(alt, /A match of £550\.00 over 3 pledges totalling £600\.00/, "the chart's text alternative");
  const rows = await card.locator("table.sim-table tbody tr").allTextContents();
  assert.deepEqual(rows, ["1£300.00£250.00", "2£200.00£200.00", "3£100.00£100.00"]);
  await capAndTrigger(card, chart, alt);
  summary.simulation = alt;
  await accessible(page, "simulation");
  summary.pages.push("simulation");
  await shot(page, "funder-simulation");
  await triggerNotMet(page, funder, offerId, society);
  await go(page, `/funder/funds/${fundId}`);
  await visited(page, "fund overview, back from the second fund", `Riverside Match ${RUN}`);
  await card.waitFor();

  step("A approves £4,000 (above the threshold): awaiting confirmation; A cannot confirm");
  await card.locator('[name="commitment"]').fill("4000");
  await card.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: "Awaiting confirmation by another admin" }).waitFor();
  const awaiting = page.locator("main section.application .awaiting");
  await awaiting.waitFor();
  const awaitingText = await awaiting.textContent();
  assert.match(awaitingText, /^Approved by Alex Grants \(you\) at \d\d:\d\d on .+ \(UK time\) for £4,000\.00, awaiting a second admin\.$/, "who asked, by name");
  summary.awaiting = awaitingText;
  assert.match(await page.locator("main section.application dl.terms").first().textContent(), /StatusApproved by one admin, awaiting a second admin's confirmation/, "the status says a second admin must confirm");
  await visited(page, "application awaiting confirmation");
  await page.getByRole("button", { name: "Confirm the approval" }).click();
  const refusal = page.locator("main .confirm-form .summary");
  await refusal.waitFor({ state: "visible" });
  summary.ownConfirmRefused = (await refusal.textContent()).trim();
  assert.ok(summary.ownConfirmRefused.length > "There is a problem".length, "the 403's detail is shown");
  await accessible(page, "own confirmation refused");
  let state = await call("GET", `/funds/${fundId}`);
  assert.deepEqual([state.committed_pence, state.awaiting_confirmation_pence], [0, 400_000]);

  step("A signs out; B signs in and confirms");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("status").filter({ hasText: "You are signed out." }).waitFor();
  await signIn(page, BASE, B.email, PASSWORD, `/funder/funds/${fundId}`);
  await visited(page, "fund overview as B", `Riverside Match ${RUN}`);
  assert.match(await page.locator("main section.application .awaiting").textContent(), /^Approved by Alex Grants at .+ for £4,000\.00, awaiting a second admin\.$/, "B sees who asked, by name");
  await page.getByRole("button", { name: "Confirm the approval" }).click();
  await page.getByRole("status").filter({ hasText: "Confirmed" }).waitFor();
  await visited(page, "fund overview after confirmation", `Riverside Match ${RUN}`);
  const money = async (label) => (await page.locator("main dl.fund-money div").filter({ has: page.locator("dt", { hasText: new RegExp(`^${label}$`) }) }).locator("dd").textContent()).trim();
  assert.equal(await money("Committed"), "£4,000.00");
  assert.equal(await money("Awaiting confirmation"), "£0.00");
  assert.match(await page.locator("main section.application").first().textContent(), /Approved/);
  const confirmed = (await page.locator("main section.application .confirmation-words").first().textContent()).trim();
  assert.match(confirmed, /^Confirmed by Bea Trustee \(you\) at .+\. Approved by Alex Grants at .+ for £4,000\.00\.$/, "who confirmed and who asked, by name");
  summary.confirmed = confirmed;
  state = await call("GET", `/funds/${fundId}`);
  assert.deepEqual([state.committed_pence, state.awaiting_confirmation_pence], [400_000, 0]);
  await publicMatchFunders(browser, funder, offerId, fundId);

  const before = await fundMoney(fundId);
  await call("POST", `/offers/${secondOfferId}/match-applications`, { token: society, body: { fund_id: fundId }, expect: 201 });
  await approveSecond(browser, fundId);
  assert.deepEqual(await fundMoney(fundId), { ...before, awaiting: before.awaiting + 150_000, available: before.available - 150_000 }, "£1,500 held");
  await declineSecond(page, fundId);
  assert.deepEqual(await fundMoney(fundId), before, "the decline returns the hold: awaiting and available as before");
  await rejectSecond(page, fundId, secondOfferId, society);
  assert.deepEqual(await fundMoney(fundId), before, "the rejection moves no money");
  await relaxAlone(page, fundId);

  step("error pages: a fund that does not exist; a society admin in the funder console");
  await go(page, "/funder/funds/no-such-fund");
  await visited(page, "funder 404", "Not found");
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const otherPage = await other.newPage();
  watch(otherPage, problems);
  await signIn(otherPage, BASE, SOCIETY.email, PASSWORD, `/funder/funds/${fundId}`);
  await visited(otherPage, "funder 403", "Not allowed");
  await other.close();

  assert.deepEqual(problems, [], "no console errors, page errors or 5xx answers");
  summary.fund = fundId;
  summary.funder = funder.id;
  summary.offer = offerId;
  summary.secondOffer = secondOfferId;
  console.log(JSON.stringify({ "e2e-funder": "passed", ...summary }));
} catch (err) {
  console.error(`e2e-funder FAILED: ${err.stack ?? err.message}`);
  if (problems.length) console.error(`also seen: ${problems.join("; ")}`);
  if (current) console.error(`the page at ${current.url()} shows: ${(await current.locator("main").textContent().catch(() => "")).slice(0, 800)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
