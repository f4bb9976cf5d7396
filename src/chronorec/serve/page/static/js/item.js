// Item: attributes, events over time, the two kinds of neighbours, who met it last.

import { getJSON, segment } from "./api.js";
import { histogramChart } from "./charts.js";
import { $, count, date, dateTime, fill, h, setText, userLink } from "./dom.js";
import { simpleRanking } from "./recs.js";
import { canRead, canRecommend } from "./state.js";

const K = 10;
let shownId = null;

export function init() {
  $("item-form").addEventListener("submit", (event) => {
    event.preventDefault();
    find($("item-q").value.trim()).catch(failed);
  });
}

/** Open the item typed: an exact id, else the most popular item whose title matches. */
async function find(text) {
  if (!text) return;
  const found = await getJSON(`page/api/items?q=${encodeURIComponent(text)}&limit=1`);
  if (!found.items.length) {
    setText("item-status", `No item matches "${text}".`);
    return;
  }
  location.hash = `#/item/${segment(found.items[0].item_id)}`;
}

function failed(error) {
  const status = $("item-status");
  status.textContent = `Could not load: ${error.message}`;
  status.className = "status error";
}

export function show(itemId) {
  if (!itemId) {
    $("item-q").focus();
    return;
  }
  if (itemId !== shownId) load(itemId).catch(failed);
}

async function load(itemId) {
  setText("item-status", `Loading item ${itemId}…`);
  $("item-status").className = "status";
  const [view, next, users] = await Promise.all([
    getJSON(`page/api/items/${segment(itemId)}/view?k=${K}`),
    canRecommend() ? getJSON(`v1/items/${segment(itemId)}/similar?k=${K}`) : null,
    canRead() ? getJSON(`page/api/items/${segment(itemId)}/users`) : null,
  ]);
  shownId = itemId;
  $("item-q").value = itemId;
  setText("item-status", "");
  $("item-body").hidden = false;
  setText("item-title", view.title || `Item ${view.item_id}`);
  setText(
    "item-meta",
    `id ${view.item_id}` +
      (view.read_by_model ? "" : " · no training event: the model does not read it in a history"),
  );
  fill(
    $("item-attributes"),
    Object.entries(view.attributes).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [`${name}: ${value}`]).map((v) => h("li", {}, String(v))),
    ),
  );
  setText("item-events", count(view.events));
  setText("item-users", count(view.users));
  setText("item-rank", `#${count(view.popularity_rank)}`);
  setText("item-span", view.first === null ? "–" : `${date(view.first)} – ${date(view.last)}`);
  histogramChart($("chart-item"), view.events_over_time, `Events on ${view.title || view.item_id}`);
  simpleRanking(
    $("item-next"),
    next?.similar,
    next ? "No item follows it in the model's ranking." : "Recommendations need a key.",
  );
  simpleRanking(
    $("item-nearest"),
    view.nearest_by_vector,
    view.nearest_by_vector === null ? "This model has no item vectors." : "No neighbour.",
  );
  renderUsers(users?.recent);
}

function renderUsers(recent) {
  if (!recent) {
    fill($("item-recent"), h("li", { class: "muted" }, "Users need the API key or the read key."));
    return;
  }
  fill(
    $("item-recent"),
    recent.length
      ? recent.map((u) =>
          h(
            "li",
            {},
            userLink(u.user_id),
            ` · ${u.event_type || "event"} · ${dateTime(u.timestamp)}`,
            u.posted ? " · posted" : "",
          ),
        )
      : h("li", { class: "muted" }, "Nobody yet."),
  );
}
