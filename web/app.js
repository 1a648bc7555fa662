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
];

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
  const message = flash ? h("p", { class: "success", role: "status" }, flash) : null;
  flash = null;
  main.replaceChildren(...[message, page.body].filter(Boolean));
  document.title = `${page.title} – Community shares`;
  (main.querySelector("h1") ?? main).focus();
  window.scrollTo(0, 0);
  markCurrent(path);
}

function errorPage(err) {
  const title = err.status === 404 ? "Not found" : "Something went wrong";
  const detail = err.status === 404 ? err.notFound ?? "That page does not exist, or you may not see it." : err.message;
  return { title, body: h("div", {}, h("h1", { tabindex: "-1" }, title), h("p", { role: "alert" }, detail), h("p", {}, h("a", { href: "#/" }, "See the open offers"))) };
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
    nav.replaceChildren(item("#/", "Offers"), item("#/pledges", "My pledges"), item("#/holdings", "Holdings"), item("#/profile", "Profile"), h("li", {}, out));
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

// The skip link moves focus without touching the address (which holds the page's route).
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", render);
navigation();
render();
