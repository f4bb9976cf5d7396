// User: the history as a timeline, the recommendations now, posting events and what moved.

import { getJSON, postJSON, segment } from "./api.js";
import { linesChart } from "./charts.js";
import { $, decimal, fill, h, itemName, setText } from "./dom.js";
import { movedOutBox, renderRanking } from "./recs.js";
import { canRead, canRecommend, canWrite, eventTypes, page, postButtons } from "./state.js";
import { drawTimeline, renderSessions } from "./timeline.js";

const K = 10;
let shown = null; // { userId, recs }: the user on screen and the list shown
let averageScales = null;

export function init() {
  if (canRead()) examples().catch(failed);
  $("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("user-id").value.trim();
    if (id) location.hash = `#/user/${segment(id)}`;
  });
  const types = eventTypes();
  const common = mostCommonType();
  fill(
    $("post-type"),
    types.map((t) => h("option", { value: t || "", selected: t === common }, t || "event")),
  );
  $("post-type").hidden = types.length === 1;
  $("post-type").previousElementSibling.hidden = types.length === 1;
  $("post-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const itemId = $("post-item").value.trim();
    if (itemId) post({ item_id: itemId, title: null }, $("post-type").value || null);
  });
  $("post-form").querySelector("button").disabled = !canWrite();
}

function mostCommonType() {
  const counts = page.info.dataset.event_types;
  return counts.length ? counts.reduce((a, b) => (b.events > a.events ? b : a)).name : null;
}

async function examples() {
  const ids = (await getJSON("page/api/users")).most_active;
  const links = ids.map((id) => h("a", { href: `#/user/${segment(id)}` }, id));
  const list = links.flatMap((a, n) => (n ? [", ", a] : [a]));
  fill($("user-examples"), ids.length ? ["Most active: ", ...list] : []);
}

export function show(userId) {
  if (!userId) {
    $("user-id").focus();
    return;
  }
  $("user-id").value = userId;
  if (!canRead() || !canRecommend()) {
    failed({ status: 401 });
    return;
  }
  if (shown?.userId !== userId) load(userId).catch(failed);
}

function failed(error) {
  const status = $("user-status");
  status.textContent =
    error.status === 401
      ? "Users' histories need the API key or the read key: enter one above."
      : `Could not load: ${error.message}`;
  status.className = "status error";
}

async function load(userId, { afterPost = null } = {}) {
  const started = performance.now();
  if (!afterPost) setText("user-status", `Loading user ${userId}…`);
  const [view, ranking] = await Promise.all([
    getJSON(`page/api/users/${segment(userId)}/history`),
    getJSON(`v1/users/${segment(userId)}/recommendations?k=${K}`),
  ]);
  const previous = afterPost && shown?.userId === userId ? shown.recs : null;
  shown = { userId, recs: ranking.recommendations };
  $("user-status").className = "status";
  setText("user-status", "");
  $("user-body").hidden = false;
  renderHistory(view);
  renderRecs(userId, ranking, previous, afterPost, performance.now() - started);
  renderScales(view.scales);
  renderInterests(view.interests);
}

function renderHistory(view) {
  const gap = page.info.model.session_gap_seconds;
  const typeNames = page.info.service.event_types;
  const shownEvents = view.events.length;
  const read = view.events.filter((event) => event.in_window).length;
  setText(
    "history-summary",
    view.total_events === 0
      ? `User ${view.user_id} has no event yet${view.forgotten ? " (forgotten)" : ""}.`
      : `User ${view.user_id}: ${view.total_events} events` +
          (shownEvents < view.total_events ? ` (latest ${shownEvents} shown)` : "") +
          `; the shaded ${read} are what the model reads (its limit: the latest ${view.max_len}).` +
          (view.in_training_data ? "" : " Not in the training data."),
  );
  const colours = drawTimeline($("timeline"), view.events, { gap, typeNames });
  fill($("timeline-legend"), [
    ...[...colours].map(([name, swatch]) =>
      h(
        "li",
        {},
        h("span", { class: "swatch", style: `background:${swatch}`, "aria-hidden": "true" }),
        name || "event",
      ),
    ),
    h("li", {}, "◆ posted since training"),
  ]);
  renderSessions($("sessions"), view.events, { gap, colours });
}

function renderRecs(userId, ranking, previous, afterPost, ms) {
  const who = ` for user ${userId}`;
  const out = renderRanking($("recs"), ranking.recommendations, {
    previous,
    actions: (item) => postButtons(item, post, who),
  });
  movedOutBox($("recs-out"), out);
  const note = ranking.fallback
    ? "Popular items: the model reads nothing of this user's history."
    : `Top ${ranking.recommendations.length} from ${ranking.model_version}.`;
  setText(
    "recs-note",
    afterPost
      ? `${afterPost} posted; updated in ${Math.round(ms)} ms: ` +
          `${$("recs").querySelectorAll("li.moved-in").length} moved in, ${out.length} moved out.`
      : note,
  );
}

async function post(item, type) {
  const userId = shown?.userId;
  if (!userId) return;
  const event = { user_id: userId, item_id: item.item_id };
  if (type) event.event_type = type;
  try {
    const stored = await postJSON("v1/events", event);
    const what =
      `${type ? `A ${type}` : "An event"} of ${itemName(item)}` +
      (stored.unknown_items ? " (an item the model does not know: stored, not scored)" : "");
    await load(userId, { afterPost: what });
  } catch (error) {
    setText(
      "recs-note",
      error.status === 401
        ? "Not posted: the server needs the API key (enter it above)."
        : `Not posted: ${error.message}`,
    );
  }
}

async function renderScales(scales) {
  $("scales-panel").hidden = !scales;
  if (!scales) return;
  averageScales ??= getJSON("page/api/scales").then((answer) => answer.average);
  const rows = (average) =>
    scales.names.map((name, s) =>
      h(
        "div",
        { class: "scale" },
        h("strong", {}, name),
        h(
          "div",
          { class: "bars" },
          bar(scales.weights[s], "this prediction", `${name} weight for this user`),
          average
            ? bar(average.weights[s], `mean of ${average.cases}`, `${name} mean weight`, "average")
            : null,
        ),
        h(
          "div",
          { class: "top" },
          scales.top_items[name].length
            ? ["alone: ", scales.top_items[name].map(itemName).join(" · ")]
            : "no event in this scale's window",
        ),
      ),
    );
  fill($("scales"), rows(null));
  const average = await averageScales;
  fill(
    $("scales"),
    rows(average),
    h(
      "p",
      { class: "muted" },
      "Dark: the weight for this prediction; light: the mean over every test case.",
    ),
  );
}

function bar(value, caption, label, kind = "") {
  return h(
    "div",
    { class: "bar-row" },
    h("div", {
      class: `bar ${kind}`,
      style: `width:${Math.max(0, Math.min(1, value)) * 100}%`,
      role: "meter",
      "aria-valuemin": 0,
      "aria-valuemax": 1,
      "aria-valuenow": decimal(value, 3),
      "aria-label": label,
      title: caption,
    }),
    h("span", {}, decimal(value, 2)),
  );
}

function renderInterests(interests) {
  $("interests-panel").hidden = !interests;
  if (!interests) return;
  fill(
    $("interests"),
    interests.interests.map((interest) =>
      h(
        "article",
        { class: "interest" },
        h(
          "h3",
          {},
          h("span", {}, interest.name),
          h("span", { class: "muted" }, `${Math.round(interest.share_of_top * 100)}% of the top`),
        ),
        h("div", { class: "muted" }, "strongest items"),
        h(
          "ol",
          {},
          interest.top_items.map((item) => h("li", {}, itemName(item))),
        ),
        h("div", { class: "muted" }, "draws on"),
        h(
          "ol",
          {},
          interest.drawn_from.map((item) =>
            h("li", {}, `${itemName(item)} (${decimal(item.score, 2)})`),
          ),
        ),
      ),
    ),
  );
  const pooled = interests.interests.slice(0, interests.weights_over_time[0]?.length || 0);
  if (interests.weights_over_time.length) {
    linesChart(
      $("chart-interests"),
      interests.weights_over_time,
      pooled.map((i) => i.name),
      interests.history.map(itemName),
      "attention weight",
    );
  }
}
