// The public fund page and the impact views in headless Chromium: what a fund's money did, its
// transfers and the transparency checkpoint, with no token. Exits non-zero with the reason on the
// first failure; prints a JSON summary on success.
//
// Environment: BASE_URL, FUND_ID, FUNDER_ID, EXPECT, SCREENSHOTS (a folder for fund-page.png and
// fund-impact.png, or empty), CS_E2E_CHROMIUM (default /usr/bin/chromium).
//
// EXPECT is a JSON object of what the seeded data must show (only `funder` and `offers` needed):
//   funder       the funder's name (required)
//   offers       rows in the fund's offers table (required)
//   fund         the fund's name (its page's heading)
//   offerTitles  titles that must be in the offers table
//   rule         words of the rule that must be in its page's lead (default: the API's rule_text)
//   transfers    rows in the transfers table (default: the API's count)
//   matched      shorthand for totals.matched
//   totals       the fund's money by key (budget, committed, matched, allocated, released,
//                available) or by label, e.g. {"allocated": "£1,500.00"}
//   impact       the fund's impact figures by key (matched, community, leverage, investors,
//                local, median, succeeded, failed, open) or label, e.g. {"leverage": "£3.25 of
//                community money per £1 of match", "failed": "1"}
//   funderImpact as `impact`, for the funder's view
//   months       rows in the fund impact's month table (default: the API's by_month length)
//   funderMonths as `months`, for the funder's view
// Besides these, every total, offer row and impact figure is checked against the API's answer.
// Example: EXPECT='{"funder":"Stroud District Council","offers":2,"matched":"£1,500.00",
//   "impact":{"failed":"1","succeeded":"1"}}'

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { accessible, env, launch, step, watch } from "./browser.mjs";
import { formatLeverage, formatMonth, formatPounds, formatShare, formatWhen } from "../../web/format.js";

const BASE = env("BASE_URL").replace(/\/$/, "");
const FUND = env("FUND_ID");
const FUNDER = env("FUNDER_ID");
const EXPECT = JSON.parse(env("EXPECT"));
const SHOTS = process.env.SCREENSHOTS ?? process.env.CS_E2E_SCREENSHOTS ?? "";
assert.equal(typeof EXPECT.funder, "string", "EXPECT.funder is the funder's name");
assert.equal(typeof EXPECT.offers, "number", "EXPECT.offers is the number of offers");

const TOTALS = { budget: "Budget", committed: "Committed to offers", matched: "Matched to pledges", allocated: "Allocated as shares", released: "Released back to the fund", available: "Available to commit" };
const FIGURES = { matched: "Match money given", community: "Community money brought in", leverage: "Leverage", investors: "Investors", local: "Investors local to the offer", median: "Median pledge", succeeded: "Offers succeeded", failed: "Offers failed", open: "Offers still open" };
const labelled = (keys, given = {}) => Object.fromEntries(Object.entries(given).map(([k, v]) => [keys[k] ?? k, v]));

async function api(path) {
  const response = await fetch(`${BASE}/api/v1${path}`);
  assert.ok(response.status < 500, `${path} answered ${response.status}`);
  return { status: response.status, body: response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text() };
}

/** What the impact view must show for an API answer, by label. */
function figuresOf(i) {
  return {
    [FIGURES.matched]: formatPounds(i.matched_pence),
    [FIGURES.community]: formatPounds(i.community_pence),
    [FIGURES.leverage]: formatLeverage(i.leverage),
    [FIGURES.investors]: String(i.investors),
    [FIGURES.local]: formatShare(i.local_investor_share_bps, "Not known: no investor gave a postcode"),
    [FIGURES.median]: i.median_pledge_pence == null ? "No pledges yet" : formatPounds(i.median_pledge_pence),
    [FIGURES.succeeded]: String(i.offers_succeeded),
    [FIGURES.failed]: String(i.offers_failed),
    [FIGURES.open]: String(i.offers_open),
  };
}

/** A description list on the page as {term: definition}. */
const terms = (page, selector) =>
  page.locator(selector).evaluate((dl) => Object.fromEntries([...dl.querySelectorAll("div")].map((d) => [d.querySelector("dt").textContent.trim(), d.querySelector("dd").textContent.trim()])));

function same(shown, expected, where) {
  for (const [label, value] of Object.entries(expected)) assert.equal(shown[label], value, `${where}: ${label}`);
}

const tableRows = (page, cls) => page.locator(`table.${cls} tbody tr`);

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** An impact view: the figures, an accessible chart, and one table row per month. */
async function impactView(page, view, { expected = {}, months, where, heading }) {
  // This view's own heading: the one before it stays until the new view is drawn.
  await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor();
  assert.match(await page.locator("main .society").textContent(), new RegExp(`Match funding from ${EXPECT.funder.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  const shown = await terms(page, "dl.figures");
  same(shown, figuresOf(view.impact), `${where} (as the API says)`);
  same(shown, labelled(FIGURES, expected), `${where} (EXPECT)`);
  const count = months ?? view.impact.by_month.length;
  assert.equal(view.impact.by_month.length, count, `${where}: the API has ${count} months`);
  if (count === 0) {
    await page.getByText("No pledges yet, so there is nothing to chart.").waitFor();
    return { months: 0 };
  }
  const chart = page.locator("svg.chart");
  assert.equal(await chart.getAttribute("role"), "img", `${where}: the chart is an image`);
  const name = await chart.evaluate((svg) => svg.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" ").trim());
  assert.ok(name.length > 20, `${where}: the chart has an accessible name and description (${name})`);
  await page.getByRole("img", { name: /Community money and match money by month/ }).waitFor();
  assert.equal(await chart.locator("rect.community").count(), count, `${where}: one community bar a month`);
  const rows = tableRows(page, "months");
  assert.equal(await rows.count(), count, `${where}: one table row a month`);
  for (const [i, m] of view.impact.by_month.entries()) {
    const cells = await rows.nth(i).locator("th, td").allTextContents();
    assert.deepEqual(cells, [formatMonth(m.month), formatPounds(m.community_pence), formatPounds(m.matched_pence), String(m.pledges)], `${where}: ${m.month}`);
  }
  return { months: count };
}

const problems = [];
const summary = { fund: FUND, funder: FUNDER, pages: [] };
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-GB" });
  const page = await context.newPage();
  watch(page, problems);
  const [fund, fundImpact, funderImpact, checkpoint] = await Promise.all([
    api(`/funds/${FUND}/public`), api(`/funds/${FUND}/impact`), api(`/funders/${FUNDER}/impact`), api("/transparency/checkpoint"),
  ]);
  for (const [what, r] of [["fund", fund], ["fund impact", fundImpact], ["funder impact", funderImpact]]) assert.equal(r.status, 200, `the ${what} is in the API`);
  const f = fund.body;

  step("the fund page: funder, rule, totals, offers, transfers");
  await page.goto(`${BASE}/#/funds/${FUND}`);
  await page.getByRole("heading", { level: 1, name: EXPECT.fund ?? f.name }).waitFor();
  summary.pages.push("fund");
  assert.equal((await terms(page, "dl.funder"))["Name"], EXPECT.funder, "the funder's name");
  assert.ok((await page.locator("main .lead").textContent()).includes(EXPECT.rule ?? f.rule_text), "the rule in words");
  const totals = await terms(page, "dl.totals");
  same(totals, labelled(TOTALS, { budget: formatPounds(f.budget_pence), committed: formatPounds(f.committed_pence), matched: formatPounds(f.matched_pence), allocated: formatPounds(f.allocated_pence), released: formatPounds(f.released_pence), available: formatPounds(f.available_pence) }), "totals (as the API says)");
  same(totals, labelled(TOTALS, { ...(EXPECT.matched ? { matched: EXPECT.matched } : {}), ...EXPECT.totals }), "totals (EXPECT)");
  const offers = tableRows(page, "fund-offers");
  assert.equal(await offers.count(), EXPECT.offers, "offers in the table");
  assert.equal(f.offers.length, EXPECT.offers, "offers in the API");
  for (const [i, o] of f.offers.entries()) {
    const cells = (await offers.nth(i).locator("th, td").allTextContents()).map((t) => t.trim());
    assert.equal(cells[0], o.title, "the offer's title");
    assert.equal(await offers.nth(i).getByRole("link", { name: o.title }).getAttribute("href"), `#/offers/${o.offer_id}`);
    const shares = `${o.funder_shares} ${o.funder_shares === 1 ? "share" : "shares"}`;
    assert.deepEqual(cells.slice(4), [formatPounds(o.commitment_pence), formatPounds(o.matched_pence), formatPounds(o.allocated_pence) + shares, formatPounds(o.released_pence)], `${o.title}'s amounts`);
  }
  for (const title of EXPECT.offerTitles ?? []) await offers.filter({ hasText: title }).first().waitFor();
  const transfers = tableRows(page, "transfers");
  assert.equal(await transfers.count(), EXPECT.transfers ?? f.transfers.length, "a row per transfer");
  if (f.transfers.length) assert.equal((await transfers.first().locator("td").first().textContent()).trim(), formatWhen(f.transfers[0].at), "UK time");

  step("open data links and the transparency checkpoint");
  const own = f.offers.length ? [`/api/v1/funds/${FUND}/360giving.json`, `/api/v1/funds/${FUND}/360giving.csv`] : [];
  for (const href of [...own, "/api/v1/open-data/360giving.json", "/api/v1/open-data/360giving.csv", "/api/v1/transparency/export", "/api/v1/transparency/checkpoint"]) {
    assert.equal(await page.locator(`main a[href="${href}"]`).count(), 1, `a link to ${href}`);
    const status = (await page.request.get(`${BASE}${href}`)).status();
    assert.equal(status, 200, `${href} answers`);
  }
  if (checkpoint.status === 200) {
    // A checkpoint may be signed meanwhile: the page shows the one served before or after.
    const shown = (await page.locator("pre.checkpoint").textContent()).trim();
    const after = await api("/transparency/checkpoint");
    assert.ok([checkpoint.body.trim(), String(after.body).trim()].includes(shown), `the latest checkpoint, as the log serves it (shown: ${shown})`);
  } else {
    await page.getByText("The log has no signed checkpoint yet").waitFor();
  }
  await page.getByText("community-shares transparency verify --from").waitFor();
  await accessible(page, "the fund page");
  await shot(page, "fund-page");

  step("keyboard alone: from the top of the fund page to its impact");
  await page.reload();
  await page.getByRole("heading", { level: 1 }).waitFor();
  const focused = () => page.evaluate(() => ({ cls: document.activeElement?.className, href: document.activeElement?.getAttribute("href") }));
  for (let i = 0; i < 20 && (await focused()).cls !== "skip"; i++) await page.keyboard.press("Shift+Tab");
  assert.equal((await focused()).cls, "skip", "Shift+Tab reaches the skip link at the top");
  const target = `#/funds/${FUND}/impact`;
  let tabs = 0;
  while (tabs < 30 && (await focused()).href !== target) {
    await page.keyboard.press("Tab");
    tabs++;
  }
  assert.equal((await focused()).href, target, "Tab reaches the link to the fund's impact");
  const ring = await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0, shadow: s.boxShadow !== "none" };
  });
  assert.ok(ring.outline || ring.shadow, "the focused link shows its focus");
  summary.tabsToImpact = tabs;
  await page.keyboard.press("Enter");
  await page.waitForURL((url) => url.hash === target);

  step("the fund's impact");
  Object.assign(summary, await impactView(page, fundImpact.body, { expected: EXPECT.impact, months: EXPECT.months, where: "the fund's impact", heading: `What ${fundImpact.body.funds[0].name} did` }));
  summary.pages.push("fund impact");
  await accessible(page, "the fund's impact");
  await shot(page, "fund-impact");

  step("the funder's impact");
  await page.getByRole("link", { name: `The impact of every fund of ${EXPECT.funder}` }).click();
  await page.waitForURL((url) => url.hash === `#/funders/${FUNDER}/impact`);
  summary.funderMonths = (await impactView(page, funderImpact.body, { expected: EXPECT.funderImpact, months: EXPECT.funderMonths, where: "the funder's impact", heading: `What ${EXPECT.funder}'s match funding did` })).months;
  summary.pages.push("funder impact");
  await accessible(page, "the funder's impact");

  step("a fund that does not exist is not found, clearly");
  await page.goto(`${BASE}/#/funds/no-such-fund-${Date.now()}`);
  await page.getByRole("heading", { level: 1, name: "Not found" }).waitFor();
  await page.getByRole("alert").filter({ hasText: "There is no fund at this address" }).waitFor();
  await accessible(page, "a missing fund");
  summary.pages.push("missing fund");

  assert.deepEqual(problems, [], "no console errors, page errors or 5xx answers");
  summary.offers = EXPECT.offers;
  summary.transfers = f.transfers.length;
  console.log(JSON.stringify({ "e2e-fund": "passed", ...summary }));
} catch (err) {
  console.error(`e2e-fund FAILED: ${err.message}`);
  if (problems.length) console.error(`also seen: ${problems.join("; ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
