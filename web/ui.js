// Small DOM helpers: element building (text only, never HTML strings, so nothing from the API
// is ever parsed as markup), accessible form fields with their errors, and the progress bar.

import { chartScale, chartSummary, formatAxisPounds, formatMonth, formatPounds, invitationSentWords, progress } from "./format.js";

/** `h("p", {class: "x"}, "text", child)`: an element; `on*` attributes become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let counter = 0;
const uid = (prefix) => `${prefix}-${++counter}`;

/**
 * A labelled input with a hint and a place for its error, all tied by aria-describedby.
 * `field` is the API's name for it (errors naming that field appear here).
 */
export function field({ label, name, field = name, type = "text", hint, value, required, autocomplete, inputmode, extra = {} }) {
  const id = uid(name);
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const error = h("p", { class: "error", id: `${id}-error`, hidden: true });
  const describedBy = [hintEl && hintEl.id, error.id].filter(Boolean).join(" ");
  const input = h("input", {
    id, name, type, required, autocomplete, inputmode,
    "aria-describedby": describedBy,
    "data-field": field,
    ...extra,
  });
  if (value !== undefined && value !== null) input.value = value;
  return h("div", { class: "field", "data-field-wrapper": field }, h("label", { for: id }, label, required ? "" : " (optional)"), hintEl, error, input);
}

/** A checkbox with its label (which may hold a link) and its error. */
export function checkbox({ name, field = name, label, required }) {
  const id = uid(name);
  const error = h("p", { class: "error", id: `${id}-error`, hidden: true });
  const input = h("input", { id, name, type: "checkbox", required, "aria-describedby": error.id, "data-field": field });
  return h("div", { class: "field checkbox", "data-field-wrapper": field }, error, h("div", { class: "check" }, input, h("label", { for: id }, label)));
}

/** The form's error summary: a focusable box listing what went wrong. */
export function summary() {
  return h("div", { class: "summary", role: "alert", tabindex: "-1", hidden: true });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = form.querySelector(".summary");
  if (box) {
    box.hidden = true;
    box.replaceChildren();
  }
}

/**
 * Shows an API error on a form: each `errors[].field` next to the input for that field, the
 * rest (and the problem's detail when no field is named) in the summary. `notes` adds advice
 * for fields the form has no input for (e.g. "profile" → a link to the profile page).
 */
export function showErrors(form, err, notes = {}) {
  clearErrors(form);
  const loose = [];
  let first = null;
  for (const { field: name, message } of err.fieldErrors ?? []) {
    const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (input) {
      const errEl = form.querySelector(`#${CSS.escape(input.id)}-error`);
      errEl.hidden = false;
      errEl.textContent = errEl.textContent ? `${errEl.textContent} ${sentence(message)}` : sentence(message);
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    } else {
      loose.push([name, message]);
    }
  }
  const box = form.querySelector(".summary");
  const items = loose.map(([name, message]) => h("li", {}, sentence(`${label(name)} ${message}`), notes[name] ? [" ", notes[name]()] : null));
  if (!err.fieldErrors?.length) items.push(h("li", {}, sentence(err.message)));
  if (box && items.length) {
    box.hidden = false;
    box.replaceChildren(h("h2", {}, "There is a problem"), h("ul", {}, items));
    box.focus();
  } else if (first) {
    first.focus();
  }
}

function label(name) {
  return name.replace(/_pence$/, "").replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()) + ":";
}

function sentence(text) {
  const t = String(text ?? "").trim();
  if (!t) return "";
  return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
}

/** A field's own error set by the page (before anything is sent). */
export function fieldError(form, name, message) {
  showErrors(form, { fieldErrors: [{ field: name, message }] });
}

/**
 * The message the last page change brought (app.js's flash, above the page) goes once a new
 * action starts on `body`, a form sent or a button pressed: left, it would read as that
 * action's outcome (a success above a new error). Answers `body`.
 */
export function dropFlashOnAction(body) {
  const drop = (event) => {
    if (event.type === "submit" || event.target.closest?.("button")) document.querySelector("#main > .flash")?.remove();
  };
  body.addEventListener("submit", drop, true);
  body.addEventListener("click", drop, true);
  return body;
}

/**
 * A form inviting an existing account, by email, to be an admin of an organisation, with a
 * status line saying what happens next. `add(email)` makes the API call and answers its 202
 * (`{invitation_id, status}`); the role starts only once they accept, and a funder's invitation
 * may first need a second admin to agree (`status`). `added(answer)` runs after (to redraw a
 * list). "Already an admin" (409) is shown under the email, like the API's 422 for an unknown
 * one; anything else (a 403's detail) in the summary.
 */
export function adminForm({ add, added, hint = "They need an account here first. They become an admin once they accept.", attrs = { "aria-label": "Add an admin" } }) {
  const form = h("form", { novalidate: true, class: "admin-form", ...attrs },
    summary(),
    field({ label: "Email of the person to add as an admin", name: "email", type: "email", required: true, autocomplete: "off", hint }),
    h("button", { type: "submit" }, "Add admin"));
  const done = h("p", { class: "success", role: "status" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.textContent = "";
    const email = form.elements.email.value.trim();
    try {
      const answer = await busy(form, "Adding…", () => add(email));
      done.textContent = invitationSentWords(answer?.status, email);
      form.reset();
      added?.(answer);
    } catch (err) {
      showErrors(form, err.status === 409 ? { fieldErrors: [{ field: "email", message: err.message }] } : err);
    }
  });
  return { form, done };
}

/** Disables a form's submit button while `work` runs, announcing `busyText`. */
export async function busy(form, busyText, work) {
  const button = form.querySelector("button[type=submit]");
  const text = button?.textContent;
  if (button) {
    button.disabled = true;
    button.textContent = busyText;
  }
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    form.removeAttribute("aria-busy");
    if (button) {
      button.disabled = false;
      button.textContent = text;
    }
  }
}

/** Community money and match money in two colours, against the minimum, target and maximum. */
export function progressBar(offer) {
  const p = progress(offer);
  const community = h("span", { class: "bar-community" });
  const match = h("span", { class: "bar-match" });
  // Widths go through the CSSOM, which the page's Content-Security-Policy allows.
  community.style.width = `${p.community}%`;
  match.style.width = `${p.match}%`;
  const mark = (cls, at) => {
    const m = h("span", { class: `mark ${cls}` });
    m.style.left = `${at}%`;
    return m;
  };
  const raised = offer.community_pledged_pence + offer.match_pence;
  return h(
    "div",
    { class: "progress" },
    h(
      "div",
      { class: "bar", role: "img", "aria-label": `${formatPounds(raised)} raised of a ${formatPounds(offer.target_pence)} target` },
      community, match, mark("mark-min", p.minimum), mark("mark-target", p.target),
    ),
    h(
      "dl",
      { class: "legend" },
      h("div", {}, h("dt", {}, h("span", { class: "swatch swatch-community", "aria-hidden": "true" }), "Community"), h("dd", {}, formatPounds(offer.community_pledged_pence))),
      h("div", {}, h("dt", {}, h("span", { class: "swatch swatch-match", "aria-hidden": "true" }), "Match funding"), h("dd", {}, formatPounds(offer.match_pence))),
      h("div", {}, h("dt", {}, "Minimum"), h("dd", {}, formatPounds(offer.min_target_pence))),
      h("div", {}, h("dt", {}, "Target"), h("dd", {}, formatPounds(offer.target_pence))),
      h("div", {}, h("dt", {}, "Maximum"), h("dd", {}, formatPounds(offer.max_target_pence))),
    ),
  );
}

const SVG = "http://www.w3.org/2000/svg";

/** As `h`, for SVG elements (attributes only; text children become text nodes). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/**
 * A bar chart of community money and match money per month (`by_month` of an impact view), as
 * an image with a title and a summary for assistive technology; the same figures should be in
 * a table beside it.
 */
export function monthChart(months) {
  const [height, left, right, top, bottom] = [260, 76, 8, 12, 36];
  // Drawn at its own size (12px text) where it fits; narrower with few months.
  const width = Math.min(640, left + right + Math.max(4, months.length) * 90);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const scale = chartScale(Math.max(0, ...months.flatMap((m) => [m.community_pence, m.matched_pence])));
  const y = (pence) => top + plotH - (pence / scale.top) * plotH;
  const title = uid("chart-title");
  const desc = uid("chart-desc");
  const image = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": `${title} ${desc}`, class: "chart" },
    svg("title", { id: title }, "Community money and match money by month"),
    svg("desc", { id: desc }, chartSummary(months)),
  );
  for (const tick of scale.ticks) {
    image.append(
      svg("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }),
      svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, formatAxisPounds(tick)),
    );
  }
  const slot = plotW / Math.max(1, months.length);
  const bar = Math.min(36, slot * 0.36);
  const every = Math.ceil(months.length / 8); // at most 8 month labels
  months.forEach((m, i) => {
    const middle = left + slot * i + slot / 2;
    const rect = (cls, x, pence) => svg("rect", { class: cls, x, y: y(pence), width: bar, height: Math.max(0, top + plotH - y(pence)) });
    image.append(rect("community", middle - bar - 1, m.community_pence), rect("match", middle + 1, m.matched_pence));
    if (i % every === 0) image.append(svg("text", { x: middle, y: height - bottom + 18, "text-anchor": "middle" }, formatMonth(m.month, { short: true })));
  });
  image.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  const key = (cls, text) => h("li", {}, h("span", { class: `swatch swatch-${cls}`, "aria-hidden": "true" }), text);
  return h("figure", { class: "chart-box" }, image, h("ul", { class: "chart-key", "aria-hidden": "true" }, key("community", "Community money"), key("match", "Match money")));
}
