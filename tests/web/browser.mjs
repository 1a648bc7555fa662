// What the browser tests share: Chromium (Debian's, through playwright-core), the checks made on
// every page (axe-core, console errors, no 5xx) and signing in.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const step = (text) => console.log(`-- ${text}`);

export function env(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

/** Headless Chromium with the flags this machine's closed network needs (fresh profile). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CS_E2E_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
}

/** Collects console errors, page errors and 5xx answers into `problems`. */
export function watch(page, problems) {
  page.on("console", (m) => {
    // Chromium logs every 4xx answer; the API's 4xx answers are expected here (and shown).
    const expected = /^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text());
    if (m.type() === "error" && !expected) problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 500) problems.push(`${r.status()} from ${r.url()}`);
  });
}

/** No serious or critical accessibility violations on the page as it is now (axe-core). */
export async function accessible(page, where) {
  await page.evaluate(AXE); // evaluated through the debugger protocol, so the page's CSP still holds
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
  });
  assert.deepEqual(violations, [], `accessibility violations on ${where}`);
}

/** The error shown next to an input (the element its aria-describedby names). */
export async function errorNextTo(input) {
  const describedBy = (await input.getAttribute("aria-describedby")) ?? "";
  const id = describedBy.split(" ").find((x) => x.endsWith("-error"));
  assert.ok(id, "the input names its error element");
  return input.page().locator(`#${id}`);
}

export async function signIn(page, base, email, password, next) {
  await page.goto(`${base}/#/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
