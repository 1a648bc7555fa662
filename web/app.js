// The router and the frame around the pages: hash addresses (#/offers/ID), the navigation that
// follows the session, focus and title on every page change, and errors shown in place.

import * as api from "./api.js";
import * as pages from "./pages.js";
import { h } from "./ui.js";

const ROUTES = [
  [/^\/$/, pages.offers],
  [/^\/offers\/([^/]+)$/, pages.offer, ["id"]],
  [/^\/offers\/([^/]+)\/pledge$/, pages.pledge, ["id"], { auth: true }],
  [/^\/signin$/, pages.signIn],
  [/^\/signup$/, pages.signUp],
  [/^\/profile$/, pages.profile, [], { auth: true }],
  [/^\/pledges$/, pages.myPledges, [], { auth: true }],
  [/^\/holdings$/, pages.holdings, [], { auth: true }],
  [/^\/funds\/([^/]+)$/, pages.fund, ["id"]],
  [/^\/funds\/([^/]+)\/impact$/, pages.fundImpact, ["id"]],
  [/^\/funders\/([^/]+)\/impact$/, pages.funderImpact, ["id"]],
  // The consoles: each one's code is fetched only when one of its addresses is opened (lazy).
  [/^\/console(?:\/(.*))?$/, (params, go) => loadConsole().then((c) => c.view(params, go)), ["rest"], { auth: true }],
  [/^\/funder(?:\/(.*))?$/, (params, go) => loadFunder().then((f) => f.view(params, go)), ["rest"], { auth: true }],
  // For platform admins only.
  [/^\/platform(?:\/(.*))?$/, (params, go) => loadPlatform().then((p) => p.view(params, go)), ["rest"], { auth: true }],
];

/**
 * A loader of a module fetched once, on first use (a failed fetch is tried again next time,
 * with an error page naming `what`).
 */
function lazy(load, what) {
  let module = null;
  return () => {
    module ??= load().catch((err) => {
      module = null;
      throw Object.assign(new Error(`The ${what} could not be loaded. Check your connection and try again.`), { status: 0, cause: err });
    });
    return module;
  };
}

/** The society console's module (fetched ahead for society admins too). */
const loadConsole = lazy(() => import("./console.js"), "society console");
const loadFunder = lazy(() => import("./funder.js"), "funder console");
const loadPlatform = lazy(() => import("./platform.js"), "platform console");

const main = document.getElementById("main");
let flash = null; // a message for the next page, e.g. "Your pledge is cancelled."
let rendering = 0;

/** Goes to an address inside the page (`/pledges`), optionally replacing history. */
function navigate(path, { replace = false, message = null } = {}) {
  flash = message;
  const hash = `#${path}`;
  if (location.hash === hash) {
    render();
  } else if (replace) {
    history.replaceState(null, "", hash);
    render();
  } else {
    location.hash = hash;
  }
}

function current() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
  const [path, query = ""] = raw.split("?");
  const params = Object.fromEntries(new URLSearchParams(query));
  // `next` must stay inside the page.
  if (params.next && !params.next.startsWith("/")) delete params.next;
  let decoded = path;
  try {
    decoded = decodeURI(path);
  } catch {
    // a malformed address is simply not found
  }
  return { path: decoded, params, raw };
}

async function render() {
  const ticket = ++rendering;
  const { path, params, raw } = current();
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  let page;
  if (!route) {
    page = { title: "Page not found", body: h("div", {}, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "See the open offers"))) };
  } else {
    const [pattern, view, names = [], options = {}] = route;
    if (options.auth && !api.signedIn()) {
      history.replaceState(null, "", pages.signInHref(raw));
      return render();
    }
    const match = pattern.exec(path);
    names.forEach((name, i) => (params[name] = match[i + 1]));
    main.setAttribute("aria-busy", "true");
    try {
      page = await view(params, navigate);
    } catch (err) {
      if (err.status === 401) {
        history.replaceState(null, "", pages.signInHref(raw));
        return render();
      }
      page = errorPage(err);
    } finally {
      main.removeAttribute("aria-busy");
    }
  }
  if (ticket !== rendering) return; // a newer navigation won
  const message = flash ? h("p", { class: "success flash", role: "status" }, flash) : null;
  flash = null;
  main.replaceChildren(...[message, page.body].filter(Boolean));
  document.title = `${page.title} – Community shares`;
  (main.querySelector("h1") ?? main).focus();
  window.scrollTo(0, 0);
  markCurrent(path);
}

const PROBLEMS = {
  403: ["Not allowed", "Your account may not do this. If you run this society or funder, ask one of its admins to invite you, then accept the invitation on the Offers page."],
  404: ["Not found", "That page does not exist, or you may not see it."],
  409: ["Not possible now", null],
  503: ["The service is busy", null],
};

/** A whole page for an error that no form field can show: never a blank screen. */
function errorPage(err) {
  const [title, fallback] = PROBLEMS[err.status] ?? ["Something went wrong", null];
  const detail = err.status === 404 ? err.notFound ?? fallback : err.status === 403 ? `${err.message.replace(/\.?$/, ".")} ${fallback}` : err.message;
  const body = h("div", { class: "problem", "data-status": String(err.status ?? 0) }, h("h1", { tabindex: "-1" }, title), h("p", { role: "alert" }, detail));
  if (err.status === 409) body.append(h("p", {}, "Something has changed since this page was drawn; what it shows now is below. Reload to see the latest state."));
  if (err.status === 503 || err.status === 0 || err.status === 429) {
    const wait = err.retryAfter ? ` The server asks to wait ${err.retryAfter} seconds.` : "";
    const again = h("button", { type: "button" }, "Try again");
    again.addEventListener("click", () => render());
    body.append(h("p", {}, `Nothing was lost.${wait}`), h("p", {}, again));
  }
  body.append(h("p", {}, h("a", { href: "#/" }, "See the open offers"), api.signedIn() ? [" · ", h("a", { href: "#/console" }, "Society console")] : null));
  return { title, body };
}

function navigation() {
  const nav = document.getElementById("nav");
  const item = (href, text) => h("li", {}, h("a", { href }, text));
  if (api.signedIn()) {
    const out = h("button", { type: "button", class: "link" }, "Sign out");
    out.addEventListener("click", async () => {
      await api.signOut();
      navigate("/", { message: "You are signed out." });
    });
    nav.replaceChildren(item("#/", "Offers"), item("#/pledges", "My pledges"), item("#/holdings", "Holdings"), item("#/profile", "Profile"), item("#/console", "Society console"), h("li", {}, out));
    // A society admin will likely open the console: fetch its code now, in the background.
    // A funder's admin gets a link to the funder console; a platform admin to the platform's.
    const consoleLink = (href, text) => {
      if (!api.signedIn() || nav.querySelector(`a[href="${href}"]`)) return;
      out.parentElement?.before(item(href, text));
      markCurrent(current().path);
    };
    api.get("/me", { auth: true }).then((me) => {
      if (me.funders?.length) consoleLink("#/funder", "Funder console");
      if (me.roles?.includes("platform_admin")) consoleLink("#/platform", "Platform console");
      if (me.societies?.length) loadConsole();
    }).catch(() => {});
  } else {
    nav.replaceChildren(item("#/", "Offers"), item("#/signin", "Sign in"), item("#/signup", "Create account"));
  }
  markCurrent(current().path);
}

function markCurrent(path) {
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#${path}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

api.onSessionChange((signedIn) => {
  navigation();
  if (!signedIn && ROUTES.some(([pattern, , , o]) => o?.auth && pattern.test(current().path))) {
    navigate("/signin", { replace: true, message: "Your session has ended; please sign in again." });
  }
});

// An invitation accepted: the navigation asks /me again, for the new console's link.
api.onRolesChange(() => navigation());

// The skip link moves focus without touching the address (which holds the page's route).
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", render);
navigation();
render();
