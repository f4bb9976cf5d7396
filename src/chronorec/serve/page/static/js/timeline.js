// A user's history laid out in time: sessions left to right, each on its own time scale, the
// gaps between them shortened to a fixed width and labelled, events coloured by type.

import { clock, colour, dateTime, duration, fill, h, itemLink, itemName } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace name, not a request
const GAP_WIDTH = 46;
const MIN_SESSION = 14;
const LANE = 22;
const MARGIN = { top: 16, bottom: 22, left: 8, right: 10 };
const SESSIONS_SHOWN = 4;
const EVENTS_SHOWN = 15;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

/** Events (oldest first) cut into sessions where the time between two events exceeds `gap`. */
function sessions(events, gap) {
  const out = [];
  events.forEach((event, index) => {
    const last = out[out.length - 1];
    const previous = last?.events[last.events.length - 1];
    const step = previous ? event.timestamp - previous.timestamp : Infinity;
    if (!last || step > gap || step < 0)
      out.push({ gapBefore: previous ? step : null, events: [] });
    out[out.length - 1].events.push({ ...event, index });
  });
  return out;
}

/** The event types of a history, in a stable order: the dataset's first, then others. */
function lanesOf(events, typeNames) {
  const present = new Set(events.map((e) => e.event_type || ""));
  const lanes = typeNames.filter((name) => present.has(name));
  for (const name of present) if (!lanes.includes(name)) lanes.push(name);
  return lanes;
}

/** The colour of each event type of `lanes`: the dataset's types keep theirs from user to user. */
function typeColours(lanes, typeNames) {
  const extra = lanes.filter((name) => !typeNames.includes(name));
  const index = (name) =>
    typeNames.includes(name) ? typeNames.indexOf(name) : typeNames.length + extra.indexOf(name);
  return new Map(lanes.map((name) => [name, colour(index(name))]));
}

function layout(groups, width) {
  const weights = groups.map((g) => Math.sqrt(g.events.length));
  const total = weights.reduce((a, b) => a + b, 0);
  const room = width - MARGIN.left - MARGIN.right - GAP_WIDTH * (groups.length - 1);
  let left = MARGIN.left;
  return groups.map((group, n) => {
    const x = left;
    const w = Math.max(MIN_SESSION, (room * weights[n]) / total);
    const first = group.events[0].timestamp;
    const span = group.events[group.events.length - 1].timestamp - first;
    const place = (t) => (span > 0 ? x + 4 + ((t - first) / span) * (w - 8) : x + w / 2);
    left += w + GAP_WIDTH;
    return { ...group, x, w, place };
  });
}

function mark(event, cx, cy, fillColour) {
  const label =
    `${itemName(event)} · ${event.event_type || "event"} · ${dateTime(event.timestamp)}` +
    (event.posted ? " · posted since training" : "");
  const shape = event.posted
    ? svg("rect", {
        x: cx - 4,
        y: cy - 4,
        width: 8,
        height: 8,
        fill: fillColour,
        stroke: "#1d2330",
        "stroke-width": 1.2,
        transform: `rotate(45 ${cx} ${cy})`,
      })
    : svg("circle", { cx, cy, r: 4.5, fill: fillColour, "fill-opacity": 0.85 });
  shape.append(svg("title", {}, label));
  return shape;
}

/** Draw the timeline of `events` into `container`; returns the colour of each event type. */
export function drawTimeline(container, events, { gap, typeNames }) {
  const groups = sessions(events, gap);
  const lanes = lanesOf(events, typeNames);
  const colours = typeColours(lanes, typeNames);
  const width = Math.max(container.clientWidth || 600, groups.length * (MIN_SESSION + GAP_WIDTH));
  const height = MARGIN.top + LANE * lanes.length + MARGIN.bottom;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}` });
  const laneY = (type) => MARGIN.top + LANE * lanes.indexOf(type || "") + LANE / 2;
  const boxes = groups.length ? layout(groups, width) : [];
  const inWindow = boxes.flatMap((b) =>
    b.events.filter((e) => e.in_window).map((e) => b.place(e.timestamp)),
  );
  if (inWindow.length) {
    const [lo, hi] = [Math.min(...inWindow), Math.max(...inWindow)];
    root.append(
      svg(
        "rect",
        {
          class: "window",
          x: lo - 6,
          y: MARGIN.top - 6,
          width: hi - lo + 12,
          height: LANE * lanes.length + 12,
          rx: 6,
        },
        svg("title", {}, "The events the model reads now"),
      ),
    );
  }
  let lastLabel = -Infinity;
  for (const box of boxes) {
    root.append(
      svg("line", {
        x1: box.x,
        x2: box.x + box.w,
        y1: height - MARGIN.bottom + 2,
        y2: height - MARGIN.bottom + 2,
        stroke: "#9aa3b2",
      }),
    );
    if (box.gapBefore !== null) {
      const mid = box.x - GAP_WIDTH / 2;
      root.append(
        svg(
          "text",
          { class: "gap-label", x: mid, y: 10, "text-anchor": "middle" },
          box.gapBefore < 0 ? "earlier" : `+${duration(box.gapBefore)}`,
        ),
      );
      root.append(
        svg(
          "text",
          { class: "gap-label", x: mid, y: height - MARGIN.bottom + 6, "text-anchor": "middle" },
          "⋯",
        ),
      );
    }
    if (box.x - lastLabel > 90) {
      root.append(
        svg(
          "text",
          { class: "axis-label", x: box.x, y: height - 4 },
          dateTime(box.events[0].timestamp).replace(" UTC", ""),
        ),
      );
      lastLabel = box.x;
    }
    for (const event of box.events) {
      const shade = colours.get(event.event_type || "");
      root.append(mark(event, box.place(event.timestamp), laneY(event.event_type), shade));
    }
  }
  container.replaceChildren(root);
  container.scrollLeft = width; // the latest events first in view
  return colours;
}

/** The sessions as lists, newest first: the latest SESSIONS_SHOWN sessions and the latest
 * EVENTS_SHOWN events of each, until asked for all. */
export function renderSessions(container, events, { gap, colours, showAll = false }) {
  const groups = sessions(events, gap).reverse();
  const shown = showAll ? groups : groups.slice(0, SESSIONS_SHOWN);
  const hidden = (group) => (showAll ? 0 : Math.max(0, group.events.length - EVENTS_SHOWN));
  const blocks = shown.map((group, n) => {
    const number = groups.length - n;
    const size = group.events.length;
    return h(
      "section",
      { class: "session", "aria-label": `Session ${number}` },
      h(
        "h3",
        {},
        `Session ${number} · ${dateTime(group.events[0].timestamp)} · ${size} ` +
          `event${size === 1 ? "" : "s"}` +
          (group.gapBefore > 0 ? ` · ${duration(group.gapBefore)} after the one before` : ""),
      ),
      hidden(group)
        ? h("p", { class: "muted" }, `${hidden(group)} earlier events not shown`)
        : null,
      h(
        "ol",
        {},
        group.events.slice(hidden(group)).map((event) => eventRow(event, colours)),
      ),
    );
  });
  const cut = groups.length > shown.length || shown.some(hidden);
  const more = cut
    ? h(
        "button",
        {
          type: "button",
          class: "quiet more",
          onclick: () => renderSessions(container, events, { gap, colours, showAll: true }),
        },
        `Show all ${events.length} events`,
      )
    : null;
  fill(container, blocks, more);
}

function eventRow(event, colours) {
  const swatch = colours.get(event.event_type || "");
  const classes = [event.posted ? "posted" : "", event.in_window ? "" : "outside"].join(" ").trim();
  return h(
    "li",
    { class: classes || null },
    h(
      "time",
      { datetime: new Date(event.timestamp * 1000).toISOString() },
      clock(event.timestamp).slice(0, 5),
    ),
    h("span", {}, itemLink(event)),
    h(
      "span",
      { class: "muted" },
      h("span", { class: "swatch", style: `background:${swatch}`, "aria-hidden": "true" }),
      event.event_type || "event",
      event.posted ? " · posted" : "",
      event.in_window ? "" : " · not read",
    ),
  );
}
