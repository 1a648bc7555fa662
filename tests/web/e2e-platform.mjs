// The platform console in headless Chromium, against the real server: a society registers (with
// bank details) and submits two offers, and has a third approved and opened, which an investor
// pledges to (all through the API). In the browser the platform admin sees the first offer's
// terms and society in the approval queue, approves it after the confirmation (it leaves the
// queue; the API says approved); steps back from approving the second, which another admin then
// approves (API), so approving it answers the API's 409, shown in place; sees both approved
// offers under "Approved, opening soon" on the open offers page, with their opening times (UK);
// closes the open offer early after the confirmation (the API says closed or beyond); registers
// a funder by keyboard alone with one mistake first (a blank name: the API's message under the
// field, focus on it); adds an admin with an unknown email (the API's message under the field),
// then a registered one (an invitation: the message says they must accept), then itself (the
// API's 403 and its reason, the earlier success message gone); once the invitee accepts (API)
// the funder lists them, and adding them again is the 409 under the field; runs the ledger
// check (balanced); and,
// given DEAD_RECIPIENT, retries a dead email (the row says queued again; the API's dead list no
// longer has it). A society admin gets the 403 page and no console link; a visitor's page loads
// no platform code; a 390 px phone shows the lists without sideways scrolling. axe-core on every
// page; no console errors, no 5xx. Exits non-zero with the reason on the first failure; prints a
// JSON summary on success.
//
// Environment: BASE_URL, PLATFORM_EMAIL, PLATFORM_PASSWORD (a platform admin), SCREENSHOTS (a
// folder for platform-approvals.png and platform-ledger.png, or empty), CS_E2E_CHROMIUM, and
// DEAD_RECIPIENT (optional: the recipient of a dead email that exists).

import assert from "node:assert/strict";
import { accessible, apiClient, env, errorNextTo, focusedIs, go, launch, recorder, signIn, step, tabTo, watch, TEST_PASSWORD } from "./browser.mjs";
import { formatDateTime } from "../../web/format.js";

const BASE = env("BASE_URL").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOTS ?? "";
const DEAD = process.env.DEAD_RECIPIENT ?? "";
const RUN = Date.now().toString(36);
const PASSWORD = TEST_PASSWORD;
const SOCIETY_ADMIN = { email: `platform-society-${RUN}@example.org`, name: "Robin Secretary" };
const FUNDER_ADMIN = { email: `platform-funder-admin-${RUN}@example.org`, name: "Jo Grants" };
const SOCIETY = { name: `Hillside Bakery ${RUN}`, kind: "co_operative", registration_number: `IP${String(Date.now() % 1_000_000).padStart(6, "0")}`, postcode: "GL6 8AA" };
const FUNDER_NAME = `Cotswold Lottery Fund ${RUN}`;
const problems = [];
const summary = { pages: [] };
const { shot, visited } = recorder(SHOTS, summary);

// ---------------------------------------------------------------------------------------------
// The API side

const { call, login, account, waitForStatus, accept } = apiClient(BASE);

const key = () => crypto.randomUUID();


/** An offer's terms: a £5,000 minimum (below the usual £10,000, so the queue warns). */
const terms = (title, opensAt, closesAt) => ({
  title, summary: "A bigger oven, so the bakery can supply the school and the care home.", share_price_pence: 100,
  min_target_pence: 500_000, target_pence: 1_000_000, max_target_pence: 2_000_000, min_holding_pence: 10_000, max_holding_pence: 500_000,
  opens_at: new Date(opensAt).toISOString(), closes_at: new Date(closesAt).toISOString(),
  cooling_off_days: 14, interest_rate_bps: 300, document_url: "https://example.org/hillside-offer.pdf",
});

async function submittedOffer(society, societyId, title, opensAt, closesAt) {
  const offer = await call("POST", `/societies/${societyId}/offers`, { token: society, body: terms(title, opensAt, closesAt), expect: 201 });
  await call("POST", `/offers/${offer.id}/eligibility`, { token: society, body: { min_age: 18, postcode_prefixes: ["GL6"] }, expect: 200 });
  await call("POST", `/offers/${offer.id}/submit`, { token: society, body: {}, expect: 200 });
  return call("GET", `/offers/${offer.id}`, { token: society, expect: 200 });
}

async function scene(platform) {
  const society = await account(SOCIETY_ADMIN.email, SOCIETY_ADMIN.name);
  const s = await call("POST", "/societies", { token: society, body: SOCIETY, expect: 201 });
  await call("PUT", `/societies/${s.id}/bank-details`, { token: society, body: { account_name: "Hillside Bakery Ltd", sort_code: "123456", account_number: "12345678" }, expect: 200 });
  const now = Date.now();
  const day = 86_400_000;
  const opened = await submittedOffer(society, s.id, `Hillside shop front ${RUN}`, now - 60_000, now + 30 * day);
  await call("POST", `/offers/${opened.id}/approve`, { token: platform, body: {}, expect: 200 });
  const raced = await submittedOffer(society, s.id, `Hillside delivery bike ${RUN}`, now + 2 * day, now + 40 * day);
  const queued = await submittedOffer(society, s.id, `Hillside oven ${RUN}`, now + day, now + 45 * day);
  await waitForStatus(opened.id, platform, ["open"]);
  const investor = await account(`platform-investor-${RUN}@example.org`, "Ada");
  await call("PUT", "/me/profile", { token: investor, body: { full_name: "Ada Lovelace", address_line1: "1 Mill Lane", town: "Nailsworth", postcode: "GL6 0AA", date_of_birth: "1980-05-01" }, expect: 200 });
  await call("POST", `/offers/${opened.id}/pledges`, { token: investor, key: key(), body: { amount_pence: 10_000, payment_method: "bank_transfer", accept_terms: true }, expect: 201 });
  return { society, societyId: s.id, queued, raced, opened };
}


/** Every item of a list endpoint, page by page. */
async function all(path, token) {
  const items = [];
  let cursor = null;
  do {
    const got = await call("GET", `${path}${path.includes("?") ? "&" : "?"}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token, expect: 200 });
    items.push(...got.items);
    cursor = got.next_cursor;
  } while (cursor);
  return items;
}

// ---------------------------------------------------------------------------------------------
// The steps in the browser

const section = (page, name) => page.getByRole("navigation", { name: "Platform console" }).getByRole("link", { name, exact: true }).click();
const focusedText = (page) => page.evaluate(() => document.activeElement?.textContent ?? "");

async function approve(page, platform, { queued, raced }) {
  step("the queue shows the offer's terms and its society; approved after the confirmation");
  const card = page.locator(`main li[data-offer="${queued.id}"]`);
  await card.waitFor();
  const text = await card.textContent();
  const shown = [
    "£1.00", "£5,000.00 / £10,000.00 / £20,000.00", "£100.00 to £5,000.00", formatDateTime(queued.opens_at), formatDateTime(queued.closes_at),
    "14 days", "3% a year", "GL6", "below £10,000", SOCIETY.name, "Co-operative society", SOCIETY.registration_number, SOCIETY.postcode,
  ];
  for (const s of shown) assert.ok(text.includes(s), `the queue shows ${s}: ${text}`);
  assert.equal(await card.getByRole("link", { name: /Read the offer document/ }).getAttribute("href"), "https://example.org/hillside-offer.pdf");
  await shot(page, "platform-approvals");
  await card.getByRole("button", { name: /^Approve/ }).click();
  assert.equal(await focusedText(page), `Approve ${queued.title}?`, "focus moves to the question");
  const box = card.locator(".confirm-step");
  assert.match(await box.textContent(), new RegExp(`scheduler opens it to investors at ${formatDateTime(queued.opens_at).replace(/[()]/g, "\\$&")}`));
  await accessible(page, "approval confirmation");
  summary.pages.push("approval confirmation");
  await box.getByRole("button", { name: "Yes, approve it" }).click();
  await page.getByRole("status").filter({ hasText: `Approved: ${queued.title}. The scheduler opens it at` }).waitFor();
  await card.waitFor({ state: "detached" });
  assert.equal((await call("GET", `/offers/${queued.id}`, { token: platform })).status, "approved");
  await visited(page, "approvals after approving", "Offers awaiting approval");

  step("stepping back from a confirmation; another admin approves first: the API's 409 in place");
  const other = page.locator(`main li[data-offer="${raced.id}"]`);
  await other.getByRole("button", { name: /^Approve/ }).click();
  await other.getByRole("button", { name: "Not now" }).click();
  assert.match(await focusedText(page), /^Approve/, "focus returns to the Approve button");
  await call("POST", `/offers/${raced.id}/approve`, { token: platform, body: {}, expect: 200 });
  await other.getByRole("button", { name: /^Approve/ }).click();
  await other.getByRole("button", { name: "Yes, approve it" }).click();
  const refusal = other.locator(".confirm-step [role=alert]");
  await refusal.waitFor({ state: "visible" });
  summary.approveConflict = (await refusal.textContent()).trim();
  assert.match(summary.approveConflict, /^It could not be approved.+/);
  assert.ok(await refusal.evaluate((el) => el === document.activeElement), "focus moves to the API's message");
  await accessible(page, "approval refused (409)");
  summary.pages.push("approval refused (409)");
}

/** The offers approved in this run (opening in a day or two) are listed as opening soon, with their opening times. */
async function openingSoon(page, { queued, raced }) {
  step("the approved offers, not open yet, under \"Approved, opening soon\"");
  await section(page, "Open offers");
  await visited(page, "open offers", "Open offers");
  const soon = page.getByRole("region", { name: "Approved, opening soon" });
  for (const o of [queued, raced]) {
    const card = soon.locator(`li[data-offer="${o.id}"]`);
    await card.waitFor();
    const text = await card.textContent();
    for (const want of [o.title, `From ${SOCIETY.name}`, `Opens${formatDateTime(o.opens_at)}`, `Closes${formatDateTime(o.closes_at)}`]) assert.ok(text.includes(want), `opening soon shows ${want}: ${text}`);
  }
  const order = await soon.locator("li[data-offer]").evaluateAll((items) => items.map((li) => li.getAttribute("data-offer")));
  assert.ok(order.indexOf(queued.id) < order.indexOf(raced.id), "the soonest to open first");
  summary.openingSoon = (await soon.locator(`li[data-offer="${queued.id}"] dl`).textContent()).trim();
}

async function closeEarly(page, platform, opened) {
  step("an open offer with its progress; closed early after the confirmation");
  const card = page.locator(`main li[data-offer="${opened.id}"]`);
  await card.waitFor();
  assert.match(await card.locator(".progress-words").textContent(), /£100\.00 raised \(£100\.00 pledged, £0\.00 match\) by 1 investor, of a £10,000\.00 target; minimum £5,000\.00/);
  await card.getByRole("button", { name: /^Close early/ }).click();
  assert.equal(await focusedText(page), `Close ${opened.title} now?`);
  const words = await card.locator(".confirm-step").textContent();
  assert.match(words, /It stops taking pledges now/);
  assert.match(words, /minimum target of £5,000\.00/);
  assert.match(words, /shares are allocated.+refunded/);
  await accessible(page, "close confirmation");
  summary.pages.push("close confirmation");
  await card.getByRole("button", { name: "Yes, close it now" }).click();
  await page.getByRole("status").filter({ hasText: `${opened.title} is closed` }).waitFor();
  await card.waitFor({ state: "detached" });
  summary.closedStatus = (await call("GET", `/offers/${opened.id}`, { token: platform })).status;
  assert.ok(["closed", "failed", "refunded", "succeeded", "allocated"].includes(summary.closedStatus), `closed or beyond: ${summary.closedStatus}`);
  await visited(page, "open offers after closing", "Open offers");
}

async function funders(page, platform) {
  step("a funder by keyboard alone: a blank name first (the API's message under it), then a good one");
  await section(page, "Funders");
  await visited(page, "funders", "Funders");
  await tabTo(page, focusedIs("name"), "the funder's name");
  await page.keyboard.type("   ");
  await page.keyboard.press("Enter");
  const name = page.locator("main form.funder-form [name=name]");
  const error = await errorNextTo(name);
  await error.waitFor({ state: "visible" });
  summary.funderNameError = await error.textContent();
  assert.match(summary.funderNameError, /blank/i, "the API's message under the name");
  assert.equal(await name.getAttribute("aria-invalid"), "true");
  assert.ok(await page.evaluate(focusedIs("name")), "focus is on the field to fix");
  await accessible(page, "funder form with an error");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(FUNDER_NAME);
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: `${FUNDER_NAME} is registered.` }).waitFor();
  const row = page.locator("main tr[data-funder]").filter({ hasText: FUNDER_NAME });
  await row.waitFor();
  assert.match(await row.textContent(), /None yet/);
  const funder = (await all("/funders", platform)).find((f) => f.name === FUNDER_NAME);
  assert.ok(funder, "the API lists the new funder");
  assert.equal(await page.locator("main form.admin-form select[name=funder]").inputValue(), funder.id, "the new funder is chosen for its first admin");
  await visited(page, "funders with the new one", "Funders");

  step("an admin: an unknown email (the API's message under it), then a registered one (invited), then itself (403), then again once accepted (409)");
  const email = page.locator("main form.admin-form [name=email]");
  const add = page.getByRole("button", { name: "Add admin" });
  await email.fill(`nobody-${RUN}@example.org`);
  await add.click();
  const emailError = await errorNextTo(email);
  await emailError.filter({ hasText: /no account has this email/i }).waitFor();
  assert.ok(await page.evaluate(focusedIs("email")), "focus is on the email");
  summary.adminEmailError = await emailError.textContent();
  await accessible(page, "admin form with an error");
  const invitee = await account(FUNDER_ADMIN.email, FUNDER_ADMIN.name);
  await email.fill(FUNDER_ADMIN.email);
  await add.click();
  const added = page.getByRole("status").filter({ hasText: `Invitation sent to ${FUNDER_ADMIN.email}: they must accept it on their page.` });
  await added.waitFor();
  assert.match(await row.textContent(), /None yet/, "no admin until they accept");
  await visited(page, "funders with an invitation sent", "Funders");
  await email.fill(env("PLATFORM_EMAIL"));
  await add.click();
  const refusal = page.locator("main form.admin-form .summary");
  await refusal.waitFor({ state: "visible" });
  assert.match(await refusal.textContent(), /platform admin/i, "the 403's reason");
  assert.ok(await refusal.evaluate((el) => el === document.activeElement), "focus moves to the reason");
  assert.equal(await added.count(), 0, "the earlier success message goes once a new attempt starts (no success above the error)");
  summary.adminSelfRefused = (await refusal.textContent()).trim();
  await accessible(page, "admin form refusing a platform admin");
  await accept(invitee, funder.id);
  await go(page, `/platform/funders?funder=${funder.id}`);
  await row.filter({ hasText: `${FUNDER_ADMIN.name} (${FUNDER_ADMIN.email})` }).waitFor();
  const listed = (await all("/funders", platform)).find((f) => f.id === funder.id);
  assert.deepEqual(listed.admins.map((a) => a.email), [FUNDER_ADMIN.email]);
  await email.fill(FUNDER_ADMIN.email);
  await add.click();
  await (await errorNextTo(email)).filter({ hasText: /already an admin/i }).waitFor();
  await visited(page, "funders with an admin", "Funders");
  return funder;
}

async function ledger(page) {
  step("the ledger check: balanced");
  await section(page, "Ledger");
  await visited(page, "ledger", "Ledger");
  await page.getByRole("button", { name: "Run verify" }).click();
  const verdict = page.getByRole("heading", { level: 2, name: /^The ledger is/ });
  await verdict.waitFor();
  assert.equal(await verdict.textContent(), "The ledger is balanced");
  assert.ok(await verdict.evaluate((el) => el === document.activeElement), "focus moves to the verdict");
  summary.verify = (await page.locator("main .verdict p").first().textContent()).trim();
  assert.match(summary.verify, /^\d+ accounts? and \d+ transfers? checked; no problem found\./);
  await visited(page, "ledger verified");
  await shot(page, "platform-ledger");
}

async function deadEmails(page, platform) {
  step(DEAD ? `failed emails: the one to ${DEAD} retried` : "failed emails (no DEAD_RECIPIENT: nothing retried)");
  await section(page, "Failed emails");
  await visited(page, "failed emails", "Failed emails");
  if (!DEAD) return;
  const row = page.locator("main tr[data-email]").filter({ has: page.locator("th", { hasText: DEAD }) }).first();
  await row.waitFor();
  const id = await row.getAttribute("data-email");
  await row.getByRole("button", { name: /^Retry/ }).click();
  await row.locator(".state").filter({ hasText: "Queued again" }).waitFor();
  await page.getByRole("status").filter({ hasText: `The email to ${DEAD} is queued again` }).waitFor();
  const dead = await all("/admin/outbox?status=dead", platform);
  assert.ok(!dead.some((e) => e.id === id), "the API's dead list no longer has it");
  await accessible(page, "a failed email retried");
  summary.pages.push("a failed email retried");
  summary.retried = id;
}

async function notForOthers(browser) {
  step("a society admin: the 403 page and no platform console link");
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, SOCIETY_ADMIN.email, PASSWORD, "/platform/funders");
  await visited(page, "platform 403", "Not allowed");
  await page.waitForLoadState("networkidle");
  assert.equal(await page.locator('#nav a[href="#/platform"]').count(), 0, "no link to the platform console");
  await context.close();

  step("a visitor's page loads no platform code");
  const visitor = await browser.newContext();
  const visitorPage = await visitor.newPage();
  const fetched = [];
  visitorPage.on("request", (r) => fetched.push(r.url()));
  await visitorPage.goto(`${BASE}/`, { waitUntil: "networkidle" });
  await visitor.close();
  assert.ok(!fetched.some((u) => u.includes("platform")), "a visitor's page fetches no platform code");
}

async function phone(browser) {
  step("a 390 px phone: the console's lists without sideways scrolling");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB", isMobile: true, hasTouch: true });
  const page = await context.newPage();
  watch(page, problems);
  await signIn(page, BASE, env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"), "/platform");
  await page.getByRole("heading", { level: 1, name: "Offers awaiting approval" }).waitFor();
  for (const [where, path, heading] of [["approvals", "/platform", "Offers awaiting approval"], ["open offers", "/platform/open", "Open offers"], ["funders", "/platform/funders", "Funders"], ["emails", "/platform/emails", "Failed emails"]]) {
    await go(page, path);
    await page.getByRole("heading", { level: 1, name: heading }).waitFor();
    await page.locator("main[aria-busy]").waitFor({ state: "detached" }).catch(() => {});
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the ${where} page is ${width}px wide on a 390px phone`);
    summary[`phone_${where.replace(" ", "_")}_width`] = width;
    await visited(page, `phone ${where}`);
  }
  await context.close();
}

// ---------------------------------------------------------------------------------------------

const browser = await launch();
let current = null;
try {
  const platform = await login(env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"));
  step("a society submits two offers and has a third approved and opened; an investor pledges (API)");
  const offers = await scene(platform);

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  current = page;
  watch(page, problems);
  await signIn(page, BASE, env("PLATFORM_EMAIL"), env("PLATFORM_PASSWORD"), "/platform");
  await visited(page, "approvals", "Offers awaiting approval");
  await page.locator('#nav a[href="#/platform"]').waitFor();

  await approve(page, platform, offers);
  await openingSoon(page, offers);
  await closeEarly(page, platform, offers.opened);
  const funder = await funders(page, platform);
  await ledger(page);
  await deadEmails(page, platform);
  await go(page, "/platform/no-such-page");
  await visited(page, "platform 404", "Not found");
  await notForOthers(browser);
  await phone(browser);

  assert.deepEqual(problems, [], "no console errors, page errors or 5xx answers");
  summary.approved = offers.queued.id;
  summary.closed = offers.opened.id;
  summary.funder = funder.id;
  console.log(JSON.stringify({ "e2e-platform": "passed", ...summary }));
} catch (err) {
  console.error(`e2e-platform FAILED: ${err.stack ?? err.message}`);
  if (problems.length) console.error(`also seen: ${problems.join("; ")}`);
  if (current) console.error(`the page at ${current.url()} shows: ${(await current.locator("main").textContent().catch(() => "")).slice(0, 800)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
