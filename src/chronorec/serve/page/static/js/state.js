// What every view shares: the overview data (dataset, model, service) and what the key opens.

import { getJSON } from "./api.js";
import { h, itemName } from "./dom.js";

export const page = {
  info: null, // GET page/api/overview
  // GET page/api/access: whether the server has keys, and what this tab's key (if any) opens.
  access: { keys: false, write: true, read: true, recommendations: true },
};

/** The overview data and what the key opens, loaded once. */
export async function load() {
  const [info, access] = await Promise.all([
    getJSON("page/api/overview"),
    getJSON("page/api/access"),
  ]);
  page.info = info;
  page.access = access;
  return info;
}

export const canWrite = () => page.access.write;
export const canRead = () => page.access.read;
export const canRecommend = () => page.access.recommendations;

/** The event types a person can post: the dataset's, or one untyped event when it has none. */
export function eventTypes() {
  const names = page.info?.service.event_types || [];
  return names.length ? names : [null];
}

/** Buttons that post each event type of `item` through `post(item, type)`. */
export function postButtons(item, post, who) {
  return eventTypes().map((type) => {
    const button = h(
      "button",
      {
        type: "button",
        class: "act",
        "aria-label": `Post ${type ? `a ${type}` : "an event"} of ${itemName(item)}${who}`,
        title: canWrite() ? null : "Posting events needs the API key",
        onclick: () => post(item, type),
      },
      type ? type : "+ add to history",
    );
    button.disabled = !canWrite();
    return button;
  });
}

/** The line that says what this tab may not do without a key (empty when it may do all). */
export function limits() {
  const { write, read, recommendations } = page.access;
  if (write) return "";
  const missing = ["posting events needs the API key"];
  if (!read) missing.push("users' histories and the event feed need the API key or the read key");
  if (!recommendations) missing.push("so do recommendations");
  return `Read-only: ${missing.join("; ")}. Enter a key above (kept for this tab only).`;
}
