// The chat room page: renders messages, applies stream events, sends, edits, deletes.
import { button, element, fetchOlder, showState, timeLabel } from "./page.js";
import { CHAT_TAGS, safeFragment } from "./safe-html.js";
import { StreamSocket } from "./stream.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const RETRY_EVERY_MS = 2000;
// A send the server failed on this many times in a row is shown as failed, with a
// Retry button, rather than tried every RETRY_EVERY_MS for as long as the page is open.
const SERVER_ERROR_TRIES = 5;

const root = document.getElementById("room");
const me = root.dataset.user;
const isStaff = root.dataset.staff === "true";
const list = document.getElementById("messages");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const olderButton = document.getElementById("load-older");
const typingLine = document.getElementById("typing");
const errorBox = document.getElementById("chat-error-box");
const errorLine = document.getElementById("chat-error");
const presenceList = document.getElementById("presence");
const stateLine = document.getElementById("connection-state");

const rows = new Map(); // message id -> <li>
const unsent = new Map(); // client_id -> { body, row, failures }
const typers = new Map(); // username -> time the indicator expires
const asked = new Set(); // ids this page asked to edit or delete since the last error
let hasOlder = false;
let loadingOlder = false;
let lastTypingSent = 0;

// Rendering ---------------------------------------------------------------------

function fillRow(row, message) {
  row.replaceChildren();
  row.dataset.id = message.id;
  row.dataset.author = message.author;
  row.dataset.createdAt = message.created_at;
  row.dataset.body = message.body;
  row.classList.toggle("deleted", message.deleted);

  const meta = element("div", "message-meta");
  const time = element("time", "message-time", timeLabel(message.created_at));
  time.dateTime = message.created_at;
  meta.append(element("span", "message-author", message.author), time);
  if (message.edited_at && !message.deleted) {
    meta.append(element("span", "message-edited", "(edited)"));
  }
  if (!message.deleted && (message.author === me || isStaff)) {
    const actions = element("span", "message-actions");
    if (message.author === me) {
      actions.append(button("Edit", () => startEdit(row)));
    }
    actions.append(button("Delete", () => deleteMessage(row)));
    meta.append(actions);
  }

  const body = element("div", "message-body");
  if (message.deleted) {
    body.textContent = "Message deleted";
  } else {
    body.append(safeFragment(message.html, CHAT_TAGS));
  }
  row.append(meta, body);
}

function regroup(row) {
  if (!row || !row.dataset.id) return;
  const previous = row.previousElementSibling;
  const continued =
    previous &&
    previous.dataset.author === row.dataset.author &&
    new Date(row.dataset.createdAt) - new Date(previous.dataset.createdAt) < GROUP_WITHIN_MS;
  row.classList.toggle("continued", Boolean(continued));
}

function nearBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

// Insert or update a message, keeping the list in id order and pending sends last.
function upsert(message) {
  let row = rows.get(message.id);
  if (row) {
    fillRow(row, message);
    return;
  }
  const stick = nearBottom();
  row = element("li", "message");
  row.id = `message-${message.id}`;
  fillRow(row, message);
  rows.set(message.id, row);
  let before = null;
  for (const other of list.children) {
    if (!other.dataset.id || Number(other.dataset.id) > message.id) {
      before = other;
      break;
    }
  }
  list.insertBefore(row, before);
  regroup(row);
  regroup(row.nextElementSibling);
  if (stick) list.scrollTop = list.scrollHeight;
}

function showUnsent(cid, body) {
  const row = element("li", "message pending");
  row.dataset.clientId = cid;
  const meta = element("div", "message-meta");
  meta.append(element("span", "message-author", me), element("span", "message-time", "sending…"));
  row.append(meta, element("div", "message-body", body));
  list.append(row);
  list.scrollTop = list.scrollHeight;
  return row;
}

function setSendStatus(row, text) {
  row.querySelector(".message-time").textContent = text;
}

// A send the server will not take: shown as not sent, with the reason, until the
// person dismisses it or takes its text back into the composer to change it.
// It is out of `unsent`, so no retry and no reconnect sends it again.
function showFailed(cid, pending, detail, retryable) {
  unsent.delete(cid);
  const row = pending.row;
  row.classList.replace("pending", "failed");
  setSendStatus(row, `not sent: ${detail}`);
  const actions = element("span", "message-actions");
  if (retryable) {
    actions.append(
      button("Retry", () => {
        actions.remove();
        row.classList.replace("failed", "pending");
        setSendStatus(row, "sending…");
        unsent.set(cid, { ...pending, failures: 0 });
        socket.send(sendFrame(cid));
      }),
    );
  }
  actions.append(
    button("Edit", () => {
      row.remove();
      input.value = pending.body;
      input.focus();
    }),
    button("Dismiss", () => row.remove()),
  );
  row.querySelector(".message-meta").append(actions);
}

function renderPresence(users) {
  presenceList.replaceChildren(
    ...users.map((name) => element("li", "", name === me ? `${name} (you)` : name)),
  );
}

function renderTyping() {
  const now = Date.now();
  for (const [name, until] of typers) if (until <= now) typers.delete(name);
  const names = [...typers.keys()];
  if (names.length === 0) typingLine.textContent = "";
  else if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
  else if (names.length === 2) typingLine.textContent = `${names[0]} and ${names[1]} are typing…`;
  else typingLine.textContent = "Several people are typing…";
}
window.setInterval(renderTyping, 1000);

// A refusal that belongs to no pending message stays in a line of its own
// (the typing line is redrawn every second) until dismissed, or until
// something this page asked for afterwards goes through.
function showError(detail) {
  asked.clear();
  errorLine.textContent = detail;
  errorBox.hidden = false;
}

function clearError() {
  errorLine.textContent = "";
  errorBox.hidden = true;
}

// Whether a stream event is the server carrying out a command from this page.
function confirms(frame) {
  if (frame.type === "chat.message") return unsent.has(frame.message.client_id);
  return asked.delete(frame.message.id);
}

// Stream ------------------------------------------------------------------------

function onEvent(frame) {
  const message = frame.message;
  if (confirms(frame)) clearError();
  if (frame.type === "chat.message" && message.author === me && unsent.has(message.client_id)) {
    unsent.get(message.client_id).row.remove();
    unsent.delete(message.client_id);
  }
  if (frame.type === "chat.message") {
    typers.delete(message.author);
    renderTyping();
  }
  upsert(message);
}

function onFrame(frame) {
  if (frame.type === "presence") {
    renderPresence(frame.users);
  } else if (frame.type === "chat.typing") {
    if (frame.user !== me) {
      typers.set(frame.user, Date.now() + TYPING_SHOWN_MS);
      renderTyping();
    }
  } else if (frame.type === "error") {
    onError(frame);
  }
}

// region: chat-on-error
function onError(frame) {
  const cid = frame.client_id;
  const pending = cid && unsent.get(cid);
  if (!pending) {
    showError(frame.detail);
    return;
  }
  if (frame.code === "server_error") pending.failures += 1;
  // Both mean "not saved; the same client_id may be sent again". Every other
  // refusal of a send is for good.
  const retry =
    frame.code === "rate_limited" ||
    (frame.code === "server_error" && pending.failures < SERVER_ERROR_TRIES);
  if (retry) {
    setSendStatus(pending.row, "not sent yet, retrying…");
    window.setTimeout(() => {
      // Unless it went through meanwhile (a reconnect sends every unsent message).
      if (unsent.get(cid) === pending) socket.send(sendFrame(cid));
    }, RETRY_EVERY_MS);
  } else {
    showFailed(cid, pending, frame.detail, frame.code === "server_error");
  }
}
// endregion

// region: chat-resend
function onState(state) {
  showState(root, stateLine, state);
  if (state === "live") {
    // Whatever was typed while offline, or was in flight when the socket
    // dropped: the server ignores a client_id it already has.
    for (const cid of unsent.keys()) socket.send(sendFrame(cid));
  } else if (state === "signed-out" || state === "access-changed") {
    // The socket has stopped for good: nothing still unsent will be.
    for (const [cid, pending] of unsent) showFailed(cid, pending, state.replace("-", " "), false);
  }
}
// endregion

const socket = new StreamSocket({
  path: root.dataset.socket,
  seq: Number(root.dataset.seq),
  onEvent,
  onFrame,
  onState,
});

// Commands ----------------------------------------------------------------------

// A client-generated id for idempotent retries (crypto.randomUUID needs a secure context).
function clientId() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sendFrame(cid) {
  return { type: "chat.send", body: unsent.get(cid).body, client_id: cid };
}

function submit() {
  const body = input.value.trim();
  if (!body) return;
  const cid = clientId();
  unsent.set(cid, { body, row: showUnsent(cid, body), failures: 0 });
  socket.send(sendFrame(cid));
  input.value = "";
  input.focus();
}

function startEdit(row) {
  const body = row.querySelector(".message-body");
  const editor = element("form", "edit-form");
  const area = element("textarea");
  area.value = row.dataset.body;
  area.rows = 2;
  area.setAttribute("aria-label", "Edit message");
  const save = element("button", "", "Save");
  save.type = "submit";
  const cancel = button("Cancel", () => editor.replaceWith(body));
  editor.append(area, save, cancel);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = area.value.trim();
    const id = Number(row.dataset.id);
    if (text && text !== row.dataset.body && socket.send({ type: "chat.edit", id, body: text })) {
      asked.add(id);
    }
    editor.replaceWith(body);
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      editor.requestSubmit();
    } else if (event.key === "Escape") {
      editor.replaceWith(body);
    }
  });
  body.replaceWith(editor);
  area.focus();
}

function deleteMessage(row) {
  const id = Number(row.dataset.id);
  if (window.confirm("Delete this message?") && socket.send({ type: "chat.delete", id })) {
    asked.add(id);
  }
}

async function loadOlder() {
  if (!hasOlder || loadingOlder) return;
  const first = list.querySelector("li[data-id]");
  if (!first) return;
  loadingOlder = true;
  try {
    const page = await fetchOlder(root.dataset.history, first.dataset.id);
    if (!page) return;
    const height = list.scrollHeight;
    const top = list.scrollTop;
    for (const message of page.messages) if (!rows.has(message.id)) upsert(message);
    // Keep what the reader was looking at where it was.
    list.scrollTop = top + (list.scrollHeight - height);
    hasOlder = page.more;
    olderButton.hidden = !hasOlder;
  } finally {
    loadingOlder = false;
  }
}

// Wiring ------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
input.addEventListener("input", () => {
  const now = Date.now();
  if (input.value && now - lastTypingSent > TYPING_SEND_EVERY_MS && socket.send({ type: "chat.typing" })) {
    lastTypingSent = now;
  }
});
list.addEventListener("scroll", () => {
  if (list.scrollTop < 40) loadOlder();
});
olderButton.addEventListener("click", loadOlder);
document.getElementById("chat-error-dismiss").addEventListener("click", clearError);

const initial = JSON.parse(document.getElementById("initial-messages").textContent);
for (const message of initial.messages) upsert(message);
hasOlder = initial.more;
olderButton.hidden = !hasOlder;
list.scrollTop = list.scrollHeight;
socket.start();
