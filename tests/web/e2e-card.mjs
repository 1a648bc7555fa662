// The investor page's card payment, in headless Chromium. Stripe.js cannot be fetched here (no
// network), so https://js.stripe.com/v3/ is answered by a stand-in that implements the part of
// Stripe.js the page uses (Stripe(key).elements({clientSecret}).create("payment").mount(el),
// confirmPayment) and records each call. The server is real and talks to localstripe.
//
// Environment: CS_E2E_BASE_URL, CS_E2E_OFFER_ID, CS_E2E_EMAIL, CS_E2E_PASSWORD (an investor
// with a complete profile), CS_E2E_PUBLISHABLE_KEY.

import assert from "node:assert/strict";
import { accessible, env, launch, PATIENCE_MS, signIn, step, watch } from "./browser.mjs";

const BASE = env("CS_E2E_BASE_URL");
const OFFER = env("CS_E2E_OFFER_ID");
const KEY = env("CS_E2E_PUBLISHABLE_KEY");

const STRIPE_STAND_IN = `
window.__stripe = [];
window.Stripe = function (key) {
  window.__stripe.push(["Stripe", key]);
  return {
    elements(options) {
      window.__stripe.push(["elements", options.clientSecret]);
      return {
        create(kind) {
          window.__stripe.push(["create", kind]);
          return {
            mount(el) {
              window.__stripe.push(["mount"]);
              const label = document.createElement("label");
              label.textContent = "Card number (stand-in)";
              const input = document.createElement("input");
              input.id = "stand-in-card";
              label.htmlFor = input.id;
              el.append(label, input);
            },
          };
        },
      };
    },
    async confirmPayment(options) {
      window.__stripe.push(["confirmPayment", options.redirect, options.confirmParams.return_url]);
      return window.__stripe.filter((c) => c[0] === "confirmPayment").length === 1
        ? { error: { message: "Your card was declined." } }
        : {};
    },
  };
};`;

const problems = [];
const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watch(page, problems);
  const refreshes = [];
  page.on("response", (r) => {
    if (r.url().endsWith("/api/v1/auth/refresh")) refreshes.push(r.status());
  });
  await page.route("https://js.stripe.com/v3/", (route) =>
    route.fulfill({ status: 200, contentType: "text/javascript", body: STRIPE_STAND_IN }),
  );

  step("the page offers card when the server takes cards");
  await signIn(page, BASE, env("CS_E2E_EMAIL"), env("CS_E2E_PASSWORD"), `/offers/${OFFER}/pledge`);
  await page.getByRole("heading", { level: 1, name: /^Pledge to / }).waitFor();
  await page.getByLabel("Amount in pounds").fill("100");
  await page.getByRole("radio", { name: /Card/ }).check();
  await page.getByRole("checkbox").check();
  const made = page.waitForResponse((r) => r.url().endsWith(`/offers/${OFFER}/pledges`) && r.request().method() === "POST");
  await page.getByRole("button", { name: "Pledge", exact: true }).click();
  const pledge = await (await made).json();
  assert.equal(pledge.payment.method, "card");
  assert.ok(pledge.payment.client_secret, "the API handed out a client secret");

  step("Stripe's payment element is mounted with the pledge's client secret");
  const pay = page.getByRole("button", { name: "Pay £100.00" });
  await pay.waitFor();
  await accessible(page, "the card form");
  await pay.click();
  await page.getByRole("alert").filter({ hasText: "Your card was declined." }).waitFor();
  await pay.click();
  await page.getByRole("status").filter({ hasText: "your card payment is being confirmed" }).waitFor();
  let calls = await page.evaluate(() => window.__stripe);
  assert.deepEqual(calls, [
    ["Stripe", KEY],
    ["elements", pledge.payment.client_secret],
    ["create", "payment"],
    ["mount"],
    ["confirmPayment", "if_required", `${BASE}/#/pledges`],
    ["confirmPayment", "if_required", `${BASE}/#/pledges`],
  ]);

  step("the session outlives its two-second access tokens (refreshed in the background)");
  // Two refreshes in a row, however long a loaded machine takes to make them.
  const waitedSince = Date.now();
  while (refreshes.length < 2 && Date.now() - waitedSince < PATIENCE_MS) await page.waitForTimeout(100);
  assert.ok(refreshes.length >= 2, `refreshed ${refreshes.length} times`);
  assert.ok(refreshes.every((s) => s === 200), `refresh answers: ${refreshes}`);

  step("a pending card pledge can be paid later from my pledges");
  await page.getByRole("navigation").getByRole("link", { name: "My pledges" }).click();
  await page.getByRole("heading", { level: 1, name: "Your pledges" }).waitFor();
  await page.getByRole("button", { name: /^Pay by card/ }).click();
  await page.getByRole("button", { name: "Pay £100.00" }).waitFor();
  await accessible(page, "my pledges with the card form");
  calls = await page.evaluate(() => window.__stripe);
  assert.deepEqual(calls.slice(6, 8), [["Stripe", KEY], ["elements", pledge.payment.client_secret]]);
  assert.ok(refreshes.every((s) => s === 200), `refresh answers: ${refreshes}`);
  assert.deepEqual(problems, [], "no console errors or page errors");
  console.log(`e2e-card: all steps passed; pledge ${pledge.id}`);
} finally {
  await browser.close();
}
