// After an offer succeeds and is allocated, the investor sees the shares in the investor page:
// holdings by society, and the pledge as "Shares issued". Started by tests/api/web.rs.
//
// Environment: CS_E2E_BASE_URL, CS_E2E_EMAIL, CS_E2E_PASSWORD, CS_E2E_SOCIETY_NAME, CS_E2E_OFFER_TITLE.

import assert from "node:assert/strict";
import { accessible, env, launch, signIn, step, watch } from "./browser.mjs";

const BASE = env("CS_E2E_BASE_URL");
const SOCIETY = env("CS_E2E_SOCIETY_NAME");
const TITLE = env("CS_E2E_OFFER_TITLE");
const problems = [];
const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watch(page, problems);
  step("holdings by society");
  await signIn(page, BASE, env("CS_E2E_EMAIL"), env("CS_E2E_PASSWORD"), "/holdings");
  await page.getByRole("heading", { level: 1, name: "Your shareholdings" }).waitFor();
  const holding = page.locator("section.holding", { hasText: SOCIETY });
  await holding.waitFor();
  assert.match(await holding.textContent(), new RegExp(`4000 shares, £4,000\\.00.*${TITLE}: 4000 shares \\(£4,000\\.00\\), issued `));
  await accessible(page, "holdings");
  step("the pledge shows its shares issued");
  await page.getByRole("navigation").getByRole("link", { name: "My pledges" }).click();
  await page.locator("tbody tr").first().locator(".status").filter({ hasText: "Shares issued" }).waitFor();
  assert.equal(await page.locator("tbody tr").first().getByRole("button").count(), 0, "nothing to cancel or pay");
  assert.deepEqual(problems, [], "no console errors or page errors");
  console.log("e2e-holdings: all steps passed");
} finally {
  await browser.close();
}
