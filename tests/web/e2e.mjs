// End-to-end test of the investor page in Debian's headless Chromium, driven by playwright-core.
// Started by tests/api/web.rs against the real server on a fresh database, which it has seeded
// with an open offer (and a match funder). Exits non-zero with the reason on the first failure.
//
// Environment: CS_E2E_BASE_URL, CS_E2E_OFFER_ID, CS_E2E_OFFER_TITLE, CS_E2E_SOCIETY_NAME,
// CS_E2E_FUNDER_NAME, CS_E2E_SCREENSHOTS (a folder to write screenshots to, or empty),
// CS_E2E_CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { accessible, env, errorNextTo, launch, signIn, step, watch } from "./browser.mjs";

const BASE = env("CS_E2E_BASE_URL");
const OFFER = env("CS_E2E_OFFER_ID");
const TITLE = env("CS_E2E_OFFER_TITLE");
const SOCIETY = env("CS_E2E_SOCIETY_NAME");
const FUNDER = env("CS_E2E_FUNDER_NAME");
const SHOTS = process.env.CS_E2E_SCREENSHOTS || "";
const EMAIL = `e2e-${Date.now()}@example.org`;
const PASSWORD = "a long enough test password";
const problems = [];

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const browser = await launch();
try {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await desktop.newPage();
  watch(page, problems);

  step("first load: offers list, under 100 kB compressed");
  let firstLoadBytes = 0;
  const counting = async (response) => {
    const sizes = await response.request().sizes().catch(() => null);
    if (sizes) firstLoadBytes += sizes.responseBodySize + sizes.responseHeadersSize;
  };
  page.on("response", counting);
  await page.goto(`${BASE}/`, { waitUntil: "networkidle" });
  page.off("response", counting);
  console.log(`first load: ${firstLoadBytes} bytes over the wire (headers and bodies)`);
  assert.ok(firstLoadBytes < 100_000, `first load is ${firstLoadBytes} bytes`);
  await page.getByRole("heading", { level: 1, name: "Open share offers" }).waitFor();
  const card = page.locator(".card", { hasText: TITLE });
  await card.waitFor();
  assert.match(await card.textContent(), new RegExp(SOCIETY));
  assert.match(await card.locator(".legend").textContent(), /Community:?£12,000\.00.*Match funding:?£750\.00/);
  assert.equal(await card.locator(".bar-community").count(), 1);
  assert.equal(await card.locator(".bar-match").count(), 1);
  await accessible(page, "the offers list");
  await shot(page, "offers-desktop");

  step("the offer's page: terms, society, funders, document");
  await card.getByRole("link", { name: TITLE }).click();
  await page.getByRole("heading", { level: 1, name: TITLE }).waitFor();
  const text = await page.locator("main").textContent();
  for (const expected of [SOCIETY, FUNDER, "£1.00", "£100.00", "£5,000.00", "£30,000.00", "3%", "14 days after you pay"]) {
    assert.ok(text.includes(expected), `offer page shows ${expected}`);
  }
  assert.equal(await page.getByRole("link", { name: /Read the offer document/ }).getAttribute("href"), "https://example.org/riverside-offer.pdf");
  await accessible(page, "the offer page");

  step("pledging needs an account: sign up, then the profile");
  await page.getByRole("link", { name: "Pledge to this offer" }).click();
  await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
  await accessible(page, "the sign-in page");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByRole("heading", { level: 1, name: "Create an account" }).waitFor();
  await page.getByLabel("Your name").fill("Ada Example");
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  const password = page.getByLabel("Password");
  await (await errorNextTo(password)).filter({ hasText: /12/ }).waitFor();
  assert.equal(await password.getAttribute("aria-invalid"), "true");
  await accessible(page, "the sign-up page with an error");
  await password.fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
  await accessible(page, "the profile page");
  await page.getByLabel("Full name").fill("Ada Example");
  await page.getByLabel("Address line 1").fill("1 Quay Street");
  await page.getByLabel("Town or city").fill("Bristol");
  await page.getByLabel("Postcode").fill("BS1 4DJ");
  await page.getByLabel("Date of birth").fill("1980-05-01");
  await page.getByRole("button", { name: "Save profile" }).click();

  step("the pledge form: shares as you type, the API's errors next to their fields");
  await page.getByRole("heading", { level: 1, name: `Pledge to ${TITLE}` }).waitFor();
  const amount = page.getByLabel("Amount in pounds");
  await amount.fill("250");
  await page.locator("output.shares").filter({ hasText: "250 shares" }).waitFor();
  await amount.fill("12.50");
  await page.locator("output.shares").filter({ hasText: "12 shares, and £0.50 that does not buy a whole share" }).waitFor();
  await amount.fill("250");
  await accessible(page, "the pledge form");
  await shot(page, "pledge-form-desktop");

  await amount.fill("6000");
  await page.getByRole("checkbox").check();
  await page.getByRole("button", { name: "Pledge", exact: true }).click();
  const amountError = await errorNextTo(amount);
  await amountError.filter({ hasText: "The maximum holding is £5,000.00; you can pledge up to £5,000.00 more." }).waitFor();
  assert.equal(await amount.getAttribute("aria-invalid"), "true");
  await accessible(page, "the pledge form with an error");

  await page.getByRole("checkbox").uncheck();
  await amount.fill("250");
  await page.getByRole("button", { name: "Pledge", exact: true }).click();
  await (await errorNextTo(page.getByRole("checkbox"))).filter({ hasText: /accept the offer document/ }).waitFor();
  assert.equal(await amountError.isHidden(), true, "the amount's old error is gone");

  step("pledge by bank transfer: the reference and the society's bank details");
  await page.getByRole("checkbox").check();
  await page.getByRole("button", { name: "Pledge", exact: true }).click();
  await page.getByRole("heading", { name: "Thank you: £250.00 for 250 shares" }).waitFor();
  const reference = (await page.locator("dd.reference").textContent()).trim();
  assert.match(reference, /^[A-HJ-NP-Z2-9-]{6,}$/, "an unambiguous reference");
  const confirmation = await page.locator(".confirmation").textContent();
  for (const expected of ["Riverside Energy Ltd", "12-34-56", "12345678", "£250.00"]) {
    assert.ok(confirmation.includes(expected), `confirmation shows ${expected}`);
  }
  await accessible(page, "the pledge confirmation");

  step("my pledges: the pledge with its reference; cancel it");
  await page.getByRole("navigation").getByRole("link", { name: "My pledges" }).click();
  await page.getByRole("heading", { level: 1, name: "Your pledges" }).waitFor();
  const row = page.locator("tbody tr").first();
  assert.match(await row.textContent(), new RegExp(`${TITLE}.*£250\\.00.*250.*Awaiting payment.*${reference}`));
  await accessible(page, "my pledges");
  await row.getByRole("button", { name: /Cancel pledge/ }).click();
  await page.getByRole("button", { name: "Yes, cancel it" }).click();
  await page.getByRole("status").filter({ hasText: `Your pledge to ${TITLE} is cancelled.` }).waitFor();
  await page.locator("tbody tr").first().locator(".status").filter({ hasText: "Cancelled" }).waitFor();
  assert.equal(await page.locator("tbody tr").first().getByRole("button").count(), 0, "no cancel button on a cancelled pledge");

  step("keyboard alone: pledge again without the mouse");
  await page.goto(`${BASE}/#/offers/${OFFER}/pledge`);
  await page.getByRole("heading", { level: 1, name: `Pledge to ${TITLE}` }).waitFor();
  const focusedName = () => page.evaluate(() => document.activeElement?.getAttribute("name"));
  for (let i = 0; i < 40 && (await focusedName()) !== "amount"; i++) await page.keyboard.press("Tab");
  assert.equal(await focusedName(), "amount", "Tab reaches the amount");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("300");
  for (let i = 0; i < 10 && (await focusedName()) !== "accept_terms"; i++) await page.keyboard.press("Tab");
  assert.equal(await focusedName(), "accept_terms", "Tab reaches the terms checkbox");
  await page.keyboard.press("Space");
  const focusedText = () => page.evaluate(() => document.activeElement?.textContent);
  for (let i = 0; i < 5 && (await focusedText()) !== "Pledge"; i++) await page.keyboard.press("Tab");
  assert.equal(await focusedText(), "Pledge", "Tab reaches the Pledge button (past the document link)");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Thank you: £300.00 for 300 shares" }).waitFor();

  step("holdings");
  await page.getByRole("navigation").getByRole("link", { name: "Holdings" }).click();
  await page.getByRole("heading", { level: 1, name: "Your shareholdings" }).waitFor();
  await page.getByText("You hold no shares yet").waitFor();
  await accessible(page, "holdings");

  step("a 390-pixel phone");
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB", isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  watch(small, problems);
  await small.goto(`${BASE}/`);
  await small.locator(".card", { hasText: TITLE }).waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the offers list fits a 390 px screen (overflows by ${overflow} px)`);
  await shot(small, "offers-phone");
  await signIn(small, BASE, EMAIL, PASSWORD, `/offers/${OFFER}/pledge`);
  await small.getByRole("heading", { level: 1, name: `Pledge to ${TITLE}` }).waitFor();
  await small.getByLabel("Amount in pounds").fill("100");
  await small.locator("output.shares").filter({ hasText: "100 shares" }).waitFor();
  assert.ok((await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, "the pledge form fits");
  await shot(small, "pledge-form-phone");
  await accessible(small, "the pledge form on a phone");

  assert.deepEqual(problems, [], "no console errors or page errors");
  console.log("e2e: all steps passed");
} finally {
  await browser.close(); // playwright gave it a fresh, temporary profile, removed here
}
