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

/** How long one browser action (a click, a wait for a heading, a navigation) may take before
 * it fails. The action ends as soon as it can, so a generous limit costs a passing run nothing;
 * it is set for a machine several times slower than usual or with both cores busy (the API
 * tests' `support::patience` says the same). */
export const PATIENCE_MS = 120_000;

/** Headless Chromium with the flags this machine's closed network needs (fresh profile); every
 * context it makes waits up to `PATIENCE_MS` for an action. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CS_E2E_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: PATIENCE_MS,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(PATIENCE_MS);
    context.setDefaultNavigationTimeout(PATIENCE_MS);
    return context;
  };
  return browser;
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

/** Goes to a page address inside the page (no reload: the session lives in memory only). To
 * the address already shown, the page is drawn again, and this waits until the old one is gone:
 * otherwise the next step could act on the old page and be undone when the new one lands. */
export async function go(page, path) {
  const redrawn = await page.evaluate((hash) => {
    if (location.hash !== hash) {
      location.hash = hash;
      return false;
    }
    const old = document.getElementById("main")?.firstElementChild;
    old?.setAttribute("data-stale", "");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
    return Boolean(old);
  }, `#${path}`);
  if (redrawn) await page.locator("#main > [data-stale]").waitFor({ state: "detached" });
}

/** Presses Tab until `test` (a script run in the page) holds; fails after 40 presses. */
export async function tabTo(page, test, what) {
  for (let i = 0; i < 40; i++) {
    if (await page.evaluate(test)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${what}`);
}

/** A script true when the focused element is the input named `name`. */
export const focusedIs = (name) => `document.activeElement?.name === ${JSON.stringify(name)}`;

/** A recorder of a run: `shot` writes a full-page screenshot into `dir` (when set); `visited`
 * waits for a page (its heading, its loading done), runs axe on it and lists it. */
export function recorder(dir, summary) {
  return {
    async shot(page, name) {
      if (!dir) return;
      const { mkdirSync } = await import("node:fs");
      const { join } = await import("node:path");
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
      summary.screenshots = [...(summary.screenshots ?? []), `${name}.png`];
    },
    async visited(page, where, heading) {
      if (heading) await page.getByRole("heading", { level: 1, name: heading }).waitFor();
      await page.locator("main[aria-busy]").waitFor({ state: "detached" }).catch(() => {});
      await accessible(page, where);
      summary.pages.push(where);
    },
  };
}

/** A JSON client of the API at `base`: `call(method, path, {token, body, key, expect})` fails
 * on any 5xx and, with `expect`, on any other status; `login` answers an access token. */
export function apiClient(base) {
  async function call(method, path, { token, body, key, expect } = {}) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (key) headers["Idempotency-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (response.status >= 500) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    if (expect && response.status !== expect) throw new Error(`${method} ${path}: expected ${expect}, got ${response.status}: ${text}`);
    return data;
  }
  const login = async (email, password) => (await call("POST", "/auth/login", { body: { email, password }, expect: 200 })).access_token;
  /** Registers an account and answers its access token. */
  async function account(email, name, password = TEST_PASSWORD) {
    await call("POST", "/auth/register", { body: { email, password, display_name: name }, expect: 201 });
    return login(email, password);
  }
  /** Polls the offer until its status is one of `wanted` (a state or a list); answers it. */
  async function waitForStatus(offerId, token, wanted, seconds = 90) {
    const states = [wanted].flat();
    let status;
    for (let i = 0; i < seconds * 2; i++) {
      status = (await call("GET", `/offers/${offerId}`, { token })).status;
      if (states.includes(status)) return status;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the offer stayed ${status}, never ${states.join(" or ")}`);
  }
  /** Invites `email` to administer a funder (`kind` "funder") or a society as `token`: 202;
   * answers `{invitation_id, status}`, checking the status when `status` is given. */
  async function invite(kind, orgId, email, token, status) {
    const sent = await call("POST", `/${kind === "society" ? "societies" : "funders"}/${orgId}/admins`, { token, body: { email }, expect: 202 });
    if (status && sent.status !== status) throw new Error(`inviting ${email}: expected ${status}, got ${sent.status}`);
    return sent;
  }
  /** The invitee (signed in as `token`) accepts their open invitation to `orgId`: 200; answers what accepting said. */
  async function accept(token, orgId) {
    const mine = await call("GET", "/me/invitations", { token, expect: 200 });
    const inv = mine.find((i) => i.organisation_id === orgId);
    if (!inv) throw new Error(`no open invitation to ${orgId} in ${JSON.stringify(mine)}`);
    return call("POST", `/me/invitations/${inv.id}/accept`, { token, body: {}, expect: 200 });
  }
  /** `email` (password TEST_PASSWORD unless given) becomes an admin: `token` invites them, they accept (API). */
  async function makeAdmin(kind, orgId, email, token, password = TEST_PASSWORD) {
    await invite(kind, orgId, email, token, "invited");
    return accept(await login(email, password), orgId);
  }
  return { call, login, account, waitForStatus, invite, accept, makeAdmin };
}

/** The password the browser scripts give the accounts they register. */
export const TEST_PASSWORD = "a long enough test password";
