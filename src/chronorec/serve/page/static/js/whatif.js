// What if: an anonymous session built from picked items, and the recommendations after it.

import { getJSON, postJSON } from "./api.js";
import { $, fill, h, itemLink, itemName, setText } from "./dom.js";
import { renderRanking } from "./recs.js";
import { canRecommend } from "./state.js";

const K = 10;
const session = []; // picked items, oldest first
let previous = null;
let searchTimer = null;

export function init() {
  const input = $("whatif-q");
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(input.value).catch(failed), 150);
  });
  $("whatif-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search(input.value).catch(failed);
  });
  $("whatif-clear").addEventListener("click", () => {
    session.length = 0;
    update().catch(failed);
  });
  $("whatif-exclude").addEventListener("change", () => update().catch(failed));
}

let searched = false;

export function show() {
  if (!searched) {
    searched = true;
    search("").catch(failed);
    update().catch(failed);
  }
}

function failed(error) {
  const note = $("whatif-note");
  note.textContent = `Could not load: ${error.message}`;
  note.className = "status error";
}

async function search(text) {
  const found = await getJSON(`page/api/items?q=${encodeURIComponent(text)}&limit=12`);
  fill(
    $("whatif-results"),
    found.items.length
      ? found.items.map((item) =>
          h(
            "li",
            {},
            h("span", {}, itemName(item)),
            h(
              "button",
              {
                type: "button",
                class: "quiet",
                "aria-label": `Add ${itemName(item)} to the session`,
                onclick: () => {
                  session.push(item);
                  update().catch(failed);
                },
              },
              "Add",
            ),
          ),
        )
      : h("li", { class: "muted" }, "No item matches."),
  );
}

async function update() {
  fill(
    $("whatif-session"),
    session.map((item, n) =>
      h(
        "li",
        {},
        h("span", {}, `${n + 1}. `, itemLink(item)),
        " ",
        h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Remove ${itemName(item)} from the session`,
            onclick: () => {
              session.splice(n, 1);
              update().catch(failed);
            },
          },
          "remove",
        ),
      ),
    ),
  );
  $("whatif-empty").hidden = session.length > 0;
  $("whatif-note").className = "status";
  if (!canRecommend()) {
    setText("whatif-note", "Recommendations need the API key or the read key: enter one above.");
    return;
  }
  const answer = await postJSON("v1/recommendations", {
    items: session.map((item) => item.item_id),
    k: K,
    exclude_seen: $("whatif-exclude").checked,
  });
  renderRanking($("whatif-recs"), answer.recommendations, { previous });
  previous = answer.recommendations;
  setText(
    "whatif-note",
    answer.fallback
      ? "Popular items: the model reads nothing of this session yet."
      : `After ${session.length} item${session.length === 1 ? "" : "s"}` +
          (answer.unknown_items
            ? ` (${answer.unknown_items} left out: unknown or never trained on)`
            : "") +
          "; new entries marked.",
  );
}
