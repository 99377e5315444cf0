// What every stream page draws the same way: the connection line, times,
// elements built from text, and pages of older history.

const STATE_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  "signed-out": "You were signed out. Reload the page to sign in again.",
  "access-changed": "Your access changed. Reload the page to go on.",
};

// region: show-state
// root carries data-state (the tests' readiness signal and the CSS hook); line says it in words.
export function showState(root, line, state) {
  root.dataset.state = state;
  line.textContent = STATE_TEXT[state];
}
// endregion

export function timeLabel(iso, withDate = false) {
  const options = { hour: "2-digit", minute: "2-digit" };
  if (withDate) Object.assign(options, { day: "numeric", month: "short" });
  return new Date(iso).toLocaleString([], options);
}

// Text goes in as textContent, never as markup.
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function button(label, onClick) {
  const node = element("button", "link-button", label);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// The page of history before item `before`, or null when the server says no.
export async function fetchOlder(historyUrl, before) {
  const response = await fetch(`${historyUrl}?before=${before}`, {
    headers: { Accept: "application/json" },
  });
  return response.ok ? response.json() : null;
}
