// Card payment through Stripe's own Payment Element (Stripe.js from js.stripe.com, which the
// page's Content-Security-Policy allows only when the server takes cards). Card details go
// from the investor's browser to Stripe, never to this server; the pledge becomes paid when
// Stripe's signed webhook reaches the server.

import { formatPounds } from "./format.js";
import { h } from "./ui.js";

const STRIPE_JS = "https://js.stripe.com/v3/";

let loading = null;
function loadStripe() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  loading ??= new Promise((resolve, reject) => {
    const script = h("script", { src: STRIPE_JS, async: true });
    script.addEventListener("load", () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load"))));
    script.addEventListener("error", () => {
      loading = null;
      reject(new Error("Stripe.js could not be loaded"));
    });
    document.head.append(script);
  });
  return loading;
}

/** Mounts the card form for a pledge in `box`. */
export async function mountCardPayment(box, { publishableKey, clientSecret, pledge }) {
  if (!clientSecret) {
    box.replaceChildren(h("p", {}, "The card payment is being set up. Open ", h("a", { href: "#/pledges" }, "your pledges"), " in a minute to pay it."));
    return;
  }
  const Stripe = await loadStripe();
  const stripe = Stripe(publishableKey);
  const elements = stripe.elements({ clientSecret });
  const mount = h("div", { class: "stripe-element" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const done = h("p", { class: "success", role: "status" });
  const pay = h("button", { type: "submit" }, `Pay ${formatPounds(pledge.amount_pence)}`);
  const form = h("form", { "aria-label": "Card payment" }, mount, error, pay);
  box.replaceChildren(form, done);
  elements.create("payment").mount(mount);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    pay.disabled = true;
    const { error: failure } = await stripe.confirmPayment({
      elements,
      redirect: "if_required",
      confirmParams: { return_url: `${location.origin}/#/pledges` },
    });
    if (failure) {
      pay.disabled = false;
      error.hidden = false;
      error.textContent = failure.message ?? "The payment did not go through. Please try again.";
      return;
    }
    form.hidden = true;
    done.textContent = "Thank you: your card payment is being confirmed. Your pledge shows as paid once Stripe confirms it, and we email you.";
  });
}
