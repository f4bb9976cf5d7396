// Requests to the server the page came from (relative URLs: it may sit behind a proxy prefix).
// The API key lives in sessionStorage: this tab only, gone when it closes.

const KEY_NAME = "chronorec.apiKey";

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, "X-API-Key": key } : extra;
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** GET a JSON resource; an ApiError with the server's one-line message on failure. */
export async function getJSON(url) {
  return answer(await fetch(url, { headers: headers() }));
}

/** POST a JSON body; an ApiError with the server's one-line message on failure. */
export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  return answer(response);
}

/** Path segment for an id (ids may hold "/" or spaces). */
export function segment(id) {
  return encodeURIComponent(id);
}
