// The page's shell: sections chosen by the address (#/user/196), the API key, item suggestions.

import { apiKey, getJSON, setApiKey } from "./api.js";
import { $, fill, h } from "./dom.js";
import * as item from "./item.js";
import * as overview from "./overview.js";
import { limits, load, page } from "./state.js";
import * as user from "./user.js";
import * as whatif from "./whatif.js";

const VIEWS = { overview, user, item, whatif };
let current = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] ? name : "overview";
  const argument = rest.length ? decodeURIComponent(rest.join("/")) : null;
  if (current && current !== view) VIEWS[current].hide?.();
  for (const key of Object.keys(VIEWS)) $(`view-${key}`).hidden = key !== view;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const changed = current !== view;
  current = view;
  if (changed) window.scrollTo(0, 0);
  VIEWS[view].show(argument);
  if (changed && document.activeElement?.closest("nav")) $("main").focus();
}

function keyStatus(text, tone = "") {
  const status = $("key-status");
  status.textContent = text;
  status.className = tone;
}

/** Keep the key typed when it opens anything, then start the page afresh with it. */
async function useKey(event) {
  event.preventDefault();
  const input = $("api-key");
  const key = input.value.trim();
  input.value = "";
  const previous = apiKey();
  setApiKey(key);
  const opens = await getJSON("page/api/access");
  if (!key || !(opens.read || opens.write)) {
    setApiKey(previous);
    keyStatus(key ? "wrong key" : "no key typed", "bad");
    return;
  }
  location.reload(); // every view and poll starts again with what the key opens
}

function setUpKey() {
  const { keys, write } = page.access;
  $("key-form").hidden = !keys;
  $("key-form").addEventListener("submit", (event) => useKey(event).catch(showError));
  $("key-forget").hidden = !apiKey();
  $("key-forget").addEventListener("click", () => {
    setApiKey("");
    location.reload();
  });
  if (apiKey())
    keyStatus(write ? "API key in use (this tab only)" : "read key in use (this tab only)", "ok");
  const line = limits();
  $("read-only").hidden = !line;
  $("read-only").textContent = line;
}

let suggestTimer = null;

/** Fill the shared <datalist> with items matching what is typed in `input`. */
function suggestItems(input) {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(async () => {
    const found = await getJSON(`page/api/items?q=${encodeURIComponent(input.value)}&limit=15`);
    fill(
      $("item-suggestions"),
      found.items.map((i) =>
        h("option", { value: i.item_id }, i.title ? `${i.title} (#${i.item_id})` : `#${i.item_id}`),
      ),
    );
  }, 150);
}

function showError(error) {
  const banner = $("page-error");
  banner.hidden = false;
  banner.textContent = `Something went wrong: ${error.message}`;
}

async function start() {
  for (const id of ["post-item", "item-q"]) {
    const input = $(id);
    input.addEventListener("input", () => suggestItems(input));
    input.addEventListener("focus", () => suggestItems(input));
  }
  const info = await load();
  $("model-version").textContent = `${info.model.model} · ${info.service.model_version}`;
  setUpKey();
  for (const view of Object.values(VIEWS)) view.init?.(info);
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = page.access.write ? "writable" : "read-only";
}

start().catch(showError);
