// Overview: the dataset, the model card, the service live and the latest events.

import { getJSON } from "./api.js";
import { curveChart, histogramChart } from "./charts.js";
import { canRead } from "./state.js";
import {
  $,
  clock,
  count,
  date,
  decimal,
  duration,
  fill,
  h,
  itemLink,
  millis,
  setText,
  timeElement,
  userLink,
} from "./dom.js";

const POLL_MS = 2000;
const FEED_SHOWN = 20;
let data = null;
let drawn = false;
let timer = null;
let lastSeq = 0;

export function init(overview) {
  data = overview;
  const { dataset, model } = overview;
  setText("dataset-name", dataset.name);
  setText("stat-users", count(dataset.users));
  setText("stat-items", count(dataset.items));
  setText("stat-events", count(dataset.events));
  setText("stat-per-user", count(dataset.median_events_per_user));
  setText(
    "dataset-span",
    dataset.first === null
      ? ""
      : `From ${date(dataset.first)} to ${date(dataset.last)} (UTC)` +
          (dataset.has_titles ? "; items have titles" : "; items have no titles"),
  );
  fill(
    $("event-types"),
    dataset.event_types.map((t) => h("li", {}, `${t.name}: ${count(t.events)}`)),
  );
  setText("model-name", model.model);
  setText("stat-params", count(model.parameters));
  setText("stat-max-len", count(model.max_len));
  setText(
    "stat-epoch",
    model.selected_epoch === null ? "–" : `${model.selected_epoch} of ${model.epochs}`,
  );
  setText("stat-train-time", model.train_seconds === null ? "–" : duration(model.train_seconds));
  metricsTable(model);
  settingsTable(model);
}

function metricsTable(model) {
  const names = Object.keys({ ...model.valid, ...model.test });
  fill(
    $("metrics-table").tBodies[0],
    names.map((name) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, name),
        h("td", {}, decimal(model.valid[name], 4)),
        h("td", {}, decimal(model.test[name], 4)),
      ),
    ),
  );
}

function settingsTable(model) {
  const rows = {
    ...model.settings,
    split: model.split,
    exclude_seen: model.exclude_seen,
    version: model.version,
  };
  fill(
    $("settings-table").tBodies[0],
    Object.entries(rows).map(([name, value]) =>
      h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, JSON.stringify(value))),
    ),
  );
}

export function show() {
  if (!drawn) {
    drawn = true;
    histogramChart($("chart-events"), data.dataset.events_over_time, "Events over time");
    if (data.model.curve.length) curveChart($("chart-curve"), data.model.curve);
    else setText("cap-curve", "Training curve: this run folder has no history.json");
  }
  poll();
}

export function hide() {
  clearTimeout(timer);
  timer = null;
}

async function poll() {
  clearTimeout(timer);
  try {
    if (!document.hidden) await Promise.all([refreshLive(), refreshFeed()]);
  } finally {
    if (!$("view-overview").hidden) timer = setTimeout(poll, POLL_MS);
  }
}

async function refreshLive() {
  const live = await getJSON("page/api/live");
  setText(
    "live-rps",
    live.requests_per_second === null ? "–" : decimal(live.requests_per_second, 1),
  );
  setText("live-p50", millis(live.p50_ms));
  setText("live-p99", millis(live.p99_ms));
  setText("live-events", count(live.events_received));
  setText("live-stored", count(live.events_stored));
  setText("live-errors", count(live.errors));
  if (live.window_seconds !== null) {
    setText(
      "live-note",
      `API requests over the last ${Math.round(live.window_seconds)} s (this ` +
        "page's own left out), from the counters of /metrics.",
    );
  }
}

async function refreshFeed() {
  if (!canRead()) {
    setText("feed-empty", "The latest events need the API key or the read key.");
    return;
  }
  const feed = await getJSON(`page/api/feed?after=${lastSeq}&limit=${FEED_SHOWN}`);
  if (!feed.events.length) return;
  const list = $("feed");
  const fresh = lastSeq > 0;
  lastSeq = feed.events[0].seq;
  const rows = feed.events.map((event) =>
    h(
      "li",
      { class: fresh ? "fresh" : null },
      timeElement(event.timestamp, clock(event.timestamp)),
      h(
        "span",
        {},
        userLink(event.user_id),
        ` · ${event.event_type || "event"} · `,
        itemLink(event),
      ),
    ),
  );
  list.prepend(...rows);
  while (list.children.length > FEED_SHOWN) list.lastElementChild.remove();
  $("feed-empty").hidden = true;
}
