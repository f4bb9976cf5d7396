// Small helpers: building elements, formatting numbers, times and item names.

/** An element with attributes (`on*` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else {
      el.setAttribute(name, value === true ? "" : value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function setText(id, text) {
  $(id).textContent = text;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

const integer = new Intl.NumberFormat("en");

export function count(n) {
  return n === null || n === undefined ? "–" : integer.format(Math.round(n));
}

export function decimal(x, digits = 2) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

export function millis(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const units = [
    ["y", 365 * 86400],
    ["d", 86400],
    ["h", 3600],
    ["min", 60],
    ["s", 1],
  ];
  for (const [unit, size] of units) {
    if (seconds >= size) return `${Math.round(seconds / size)} ${unit}`;
  }
  return `${seconds.toFixed(1)} s`;
}

const dateFormat = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });
const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});
const timeFormat = new Intl.DateTimeFormat("en-GB", { timeStyle: "medium", timeZone: "UTC" });

export function date(unix) {
  return unix === null || unix === undefined ? "–" : dateFormat.format(new Date(unix * 1000));
}

export function dateTime(unix) {
  return unix === null || unix === undefined
    ? "–"
    : `${dateTimeFormat.format(new Date(unix * 1000))} UTC`;
}

export function clock(unix) {
  return timeFormat.format(new Date(unix * 1000));
}

export function timeElement(unix, text) {
  return h("time", { datetime: new Date(unix * 1000).toISOString() }, text);
}

/** An item's name: its title where the dataset has one, else its id. */
export function itemName(item) {
  return item.title || `item ${item.item_id}`;
}

/** A link that opens the item's view. */
export function itemLink(item) {
  return h("a", { href: `#/item/${encodeURIComponent(item.item_id)}` }, itemName(item));
}

/** A link that opens the user's view. */
export function userLink(userId) {
  return h("a", { href: `#/user/${encodeURIComponent(userId)}` }, `user ${userId}`);
}

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#6b6b6b",
  "#F0E442",
];

export function colour(index) {
  return PALETTE[index % PALETTE.length];
}
