// Ranked item lists, with what moved since the previous list marked.

import { decimal, fill, h, itemLink, itemName } from "./dom.js";

/**
 * Fill `list` (an <ol class="recs">) with `items` best first. With `previous` (the list shown
 * before), items new to the list are marked "new" and the others by how many places they moved.
 * `actions(item)` may give buttons to show beside each item. Returns the items that left the list.
 */
export function renderRanking(list, items, { previous = null, actions = null } = {}) {
  const before = previous ? new Map(previous.map((item, rank) => [item.item_id, rank])) : null;
  fill(
    list,
    items.map((item, rank) => {
      const was = before?.get(item.item_id);
      const moved = before === null ? null : was === undefined ? "in" : was - rank;
      return h(
        "li",
        {
          class: moved === "in" ? "moved-in" : moved ? "moved" : null,
          "data-item": item.item_id,
        },
        h(
          "span",
          {},
          itemLink(item),
          movedMark(moved),
          " ",
          item.title ? h("span", { class: "id" }, `#${item.item_id}`) : null,
        ),
        h("span", { class: "score", title: "score" }, decimal(item.score, 3)),
        actions ? h("span", { class: "actions" }, actions(item)) : null,
      );
    }),
  );
  if (!before) return [];
  const now = new Set(items.map((item) => item.item_id));
  return previous.filter((item) => !now.has(item.item_id));
}

function movedMark(moved) {
  if (moved === null || moved === 0) return null;
  if (moved === "in") return h("span", { class: "mark in", title: "new in the list" }, "new");
  const up = moved > 0;
  return h(
    "span",
    {
      class: `mark ${up ? "up" : "down"}`,
      title: `${up ? "up" : "down"} ${Math.abs(moved)} place${Math.abs(moved) === 1 ? "" : "s"}`,
    },
    `${up ? "▲" : "▼"}${Math.abs(moved)}`,
  );
}

/** The box listing items that left the list (nothing when none did). */
export function movedOutBox(container, items) {
  fill(
    container,
    items.length
      ? h(
          "div",
          { class: "moved-out", role: "note" },
          h("strong", {}, `Moved out (${items.length})`),
          h(
            "ul",
            {},
            items.map((item) => h("li", { "data-item": item.item_id }, itemName(item))),
          ),
        )
      : null,
  );
}

/** A plain ranked list (no actions, no marks), with a line when it is empty. */
export function simpleRanking(list, items, empty) {
  if (!items || !items.length) {
    fill(list, h("li", { class: "muted empty" }, empty));
    return;
  }
  renderRanking(list, items);
}
