// The chat app: a sidebar of the user's rooms and direct messages with their
// unread and mention counts, the open room's conversation, and who is here.
// One MultiplexSocket carries every room in the sidebar and the user's
// personal stream; opening another room fetches its history and changes the
// address, with no reload and no new socket.
import { clockLabel, dayKey, dayLabel, fullLabel, timeLabel } from "./dates.js";
import { button, element, fetchOlder, showState } from "./page.js";
import { avatar, personUrl } from "./people.js";
import { CHAT_TAGS, safeFragment } from "./safe-html.js";
import { MultiplexSocket } from "./stream.js";

const GROUP_WITHIN_MS = 5 * 60 * 1000;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const RETRY_EVERY_MS = 2000;
// A send the server failed on this many times in a row is shown as failed, with a
// Retry button, rather than tried every RETRY_EVERY_MS for as long as the page is open.
const SERVER_ERROR_TRIES = 5;
const NOTIFY_KEY = "chat.notify-mentions";
// How many of the latest announcements stay in the live region.
const ANNOUNCED_KEPT = 5;
// What can take the keyboard focus inside a message.
const CONTROLS = "a[href], button, input, select, textarea, [tabindex]:not(li)";
// The states after which the socket stays closed (stream.js).
const ENDED = new Set(["signed-out", "access-changed"]);


const root = document.getElementById("room");
const me = root.dataset.user;
const isStaff = root.dataset.staff === "true";
const dmUrl = root.dataset.dm;
const heading = document.getElementById("room-name");
const list = document.getElementById("messages");
const emptyState = document.getElementById("empty-room");
const announcer = document.getElementById("announcer");
const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = document.getElementById("send");
const olderButton = document.getElementById("load-older");
const newerButton = document.getElementById("load-newer");
const typingLine = document.getElementById("typing");
const errorBox = document.getElementById("chat-error-box");
const errorLine = document.getElementById("chat-error");
const notice = document.getElementById("room-notice");
const presenceList = document.getElementById("presence");
const stateLine = document.getElementById("connection-state");
const sidebarToggle = document.getElementById("sidebar-toggle");
const roomLinks = document.getElementById("room-links");
const dmLinks = document.getElementById("dm-links");
const notifyToggle = document.getElementById("notify-toggle");
const joinButton = document.getElementById("join-room");

const rooms = new Map(); // stream -> the sidebar's entry (a RoomEntry and its counted ids)
const presence = new Map(); // stream -> (ref -> person): each socket there, and whose it is
// The page as the server rendered it: the open room's history as the history
// endpoint gives it, the sidebar's rooms, and the personal stream's seq.
const fromPage = (id) => JSON.parse(document.getElementById(id).textContent);
const app = {
  ...fromPage("initial-messages"),
  room: fromPage("chat-entry"),
  head: Number(root.dataset.seq),
  read: Number(root.dataset.read),
  sidebar: fromPage("chat-sidebar"),
  personal: Number(root.dataset.personal),
};

const rows = new Map(); // message id -> <li>, in the open room
const unsent = new Map(); // client_id -> { stream, body, row, failures }
const typers = new Map(); // username -> time the indicator expires, in the open room
const asked = new Set(); // ids this page asked to edit or delete since the last error
let focusRow = null; // the message the keyboard was last in, in the open room
let current = null; // the open room: { stream, name, url, history, shown, hasOlder, gone }
let socketState = "connecting";
let shownState = null;
let opening = 0; // which openRoom() call is the latest
// The events of the room being opened that arrive while its history is on its
// way: shown after it, if the history was read before them.
let arriving = null;
let loadingOlder = false;
let loadingNewer = false;
let lastTypingSent = 0;

// Sidebar: rooms, direct messages and their counts --------------------------------

// A sidebar entry counts what the server counted (RoomEntry) plus what the
// socket brought since: `head` is the last room seq counted, so an event is
// counted once however often it is replayed; the ids let a delete or a read
// take back exactly the messages it concerns.
function entryOf(room) {
  return {
    ...room,
    unreadIds: new Map(room.unread_ids ?? []), // message id -> room seq
    mentionIds: new Map((room.mention_ids ?? []).map((id) => [id, null])),
    deletedIds: new Set(),
    item: null, // its <li> in the sidebar
  };
}

// An entry's link is built once and updated in place, so that a count that
// changes does not take the keyboard focus away from it.
function renderEntry(entry) {
  if (!entry.item) {
    entry.item = element("li", "room-entry");
    entry.item.dataset.stream = entry.stream;
    entry.item.dataset.kind = entry.kind;
    const link = element("a", "room-link");
    link.href = entry.url;
    link.append(element("span", "room-link-name", entry.name));
    if (entry.kind === "private") link.append(element("span", "room-kind", "private"));
    const badges = [element("span", "badge unread-badge"), element("span", "badge mention-badge")];
    for (const badge of badges) badge.setAttribute("aria-hidden", "true");
    link.append(...badges, element("span", "visually-hidden room-link-counts"));
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      openRoom(entry.url);
    });
    entry.item.append(link);
    (entry.kind === "direct" ? dmLinks : roomLinks).append(entry.item);
  }
  const link = entry.item.firstElementChild;
  const unread = link.querySelector(".unread-badge");
  unread.textContent = String(entry.unread);
  unread.hidden = entry.unread === 0;
  const mentions = link.querySelector(".mention-badge");
  mentions.textContent = `@${entry.mentions}`;
  mentions.hidden = entry.mentions === 0;
  // The link is named by its own text, so what a voice user sees is what they can
  // say; a screen reader reads these words instead of the bare numbers.
  const counts = [
    entry.unread && `${entry.unread} unread`,
    entry.mentions && `${entry.mentions} mentioning you`,
  ].filter(Boolean);
  link.querySelector(".room-link-counts").textContent = counts.length ? `, ${counts.join(", ")}` : "";
  if (current?.stream === entry.stream) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
}

function addRoom(room) {
  const known = rooms.get(room.stream);
  if (known) return known;
  const entry = entryOf(room);
  rooms.set(room.stream, entry);
  renderEntry(entry);
  follow(entry.stream, entry.head);
  renderJoin();
  return entry;
}

function removeRoom(stream) {
  const entry = rooms.get(stream);
  if (!entry) return;
  rooms.delete(stream);
  entry.item.remove();
  if (current?.stream !== stream) socket.leave(stream);
  renderJoin();
}

// A public room one has not joined can be read, and joined to count it in the sidebar.
function renderJoin() {
  joinButton.hidden = !current || current.gone || rooms.has(current.stream);
}

async function joinRoom() {
  const response = await fetch(new URL("join", new URL(current.url, window.location.href)), {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken() },
  });
  // The room comes into the sidebar with the user.joined that follows.
  if (!response.ok) showError("Could not join the room.");
}

function setCounts(entry, unread, mentions) {
  entry.unread = Math.max(0, unread);
  entry.mentions = Math.max(0, mentions);
  renderEntry(entry);
  renderTitle();
}

// The tab's title says how many messages wait, in every room, for a tab in the background.
function renderTitle() {
  let waiting = 0;
  for (const entry of rooms.values()) waiting += entry.unread;
  const name = current ? `${current.name} · Chat` : "Chat";
  document.title = waiting > 0 ? `(${waiting}) ${name}` : name;
}

// Called with each event of a room in the sidebar, once, in seq order.
function count(entry, frame) {
  if (frame.seq <= entry.head) return;
  entry.head = frame.seq;
  const message = frame.message;
  if (frame.type === "chat.message") {
    if (message.deleted || message.author === me || frame.seq <= entry.read) return;
    if (entry.unreadIds.has(message.id)) return;
    entry.unreadIds.set(message.id, frame.seq);
    setCounts(entry, entry.unread + 1, entry.mentions);
  } else if (frame.type === "chat.message_deleted") {
    entry.deletedIds.add(message.id);
    const unread = entry.unreadIds.delete(message.id) ? 1 : 0;
    const mention = entry.mentionIds.delete(message.id) ? 1 : 0;
    if (unread || mention) setCounts(entry, entry.unread - unread, entry.mentions - mention);
  }
}

function countMention(entry, frame) {
  const id = frame.message;
  if (frame.message_seq <= entry.read || entry.mentionIds.has(id) || entry.deletedIds.has(id)) return;
  entry.mentionIds.set(id, frame.message_seq);
  setCounts(entry, entry.unread, entry.mentions + 1);
}

// The read position moved to `read` (in this tab, or in any tab of the user's).
function countRead(entry, read) {
  if (read <= entry.read) return;
  entry.read = read;
  if (read >= entry.head) {
    entry.unreadIds.clear();
    entry.mentionIds.clear();
    setCounts(entry, 0, 0);
    return;
  }
  let unread = entry.unread;
  let mentions = entry.mentions;
  for (const [id, seq] of entry.mentionIds) {
    const at = seq ?? entry.unreadIds.get(id);
    if (at !== undefined && at <= read) {
      entry.mentionIds.delete(id);
      mentions -= 1;
    }
  }
  for (const [id, seq] of entry.unreadIds) {
    if (seq <= read) {
      entry.unreadIds.delete(id);
      unread -= 1;
    }
  }
  setCounts(entry, unread, mentions);
}

// The open room counts as read once its end is on screen in a visible tab; the
// server moves the read position and tells every tab of the user (user.read).
function markRead() {
  const entry = current && rooms.get(current.stream);
  if (!entry || document.visibilityState !== "visible" || !nearBottom()) return;
  if (current.hasNewer) return; // the end on screen is not the room's
  if (entry.unread === 0 && entry.mentions === 0) return;
  const seq = entry.head;
  if (socket.send(current.stream, { type: "chat.read", seq })) countRead(entry, seq);
}

// Rendering the open room -----------------------------------------------------------

// Someone's name (their display name, `label`), as a button that starts (or finds) a
// direct conversation with them.
function authorName(name, label = name) {
  if (name === me) return element("span", "message-author", label);
  const node = button(label, () => startDm(name));
  node.className = "message-author author-button";
  node.title = `Send ${label} (@${name}) a direct message`;
  return node;
}

function fillRow(row, message) {
  row.replaceChildren();
  row.dataset.id = message.id;
  row.dataset.author = message.author;
  row.dataset.authorName = message.author_name;
  row.dataset.createdAt = message.created_at;
  row.dataset.body = message.body;
  row.classList.toggle("deleted", message.deleted);

  const meta = element("div", "message-meta");
  meta.append(avatar(message.author_name, message.author_colour));
  meta.append(authorName(message.author, message.author_name), messageTime(message.created_at));
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
    markMentions(body);
  }
  row.classList.toggle("mentions-me", body.querySelector("a.mention.me") !== null);
  row.append(meta, body);
  if (!message.deleted) row.append(reactionBar(message));
}

// The text says the date too once it is not today (but for a continued
// message, under one that does): renderList keeps it so.
function messageTime(iso) {
  const when = new Date(iso);
  const time = element("time", "message-time", timeLabel(when));
  time.dateTime = iso;
  time.title = fullLabel(when);
  return time;
}

// Mentions of this user stand out: `a.mention.me`.
function markMentions(body) {
  for (const link of body.querySelectorAll("a.mention")) {
    link.classList.toggle("me", link.textContent === `@${me}`);
  }
}

function regroup(row) {
  if (!row || !row.dataset.id) return;
  const previous = row.previousElementSibling;
  const at = new Date(row.dataset.createdAt);
  const previousAt = new Date(previous?.dataset.createdAt);
  const continued =
    previous &&
    previous.dataset.author === row.dataset.author &&
    at - previousAt < GROUP_WITHIN_MS &&
    dayKey(at) === dayKey(previousAt);
  row.classList.toggle("continued", Boolean(continued));
}

function nearBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

// Insert or update a message, keeping the list in id order and pending sends last.
function upsert(message) {
  let row = rows.get(message.id);
  if (row) {
    const focused = focusedIn(row);
    fillRow(row, message);
    refocus(row, focused);
    return;
  }
  // Below a gap (newer messages not loaded yet) the bottom is not the room's end.
  const stick = nearBottom() && !current?.hasNewer;
  row = element("li", "message");
  row.id = `message-${message.id}`;
  row.tabIndex = -1;
  fillRow(row, message);
  rows.set(message.id, row);
  let before = null;
  for (const other of list.children) {
    if (!other.classList.contains("message")) continue;
    if (!other.dataset.id || Number(other.dataset.id) > message.id) {
      before = other;
      break;
    }
  }
  list.insertBefore(row, before);
  regroup(row);
  regroup(row.nextElementSibling);
  renderList();
  if (stick) list.scrollTop = list.scrollHeight;
}

// A row redrawn while the keyboard is in it keeps the focus: on the button of
// the same name if it is still there, else on the row.
function focusedIn(row) {
  const active = document.activeElement;
  if (active === row || !row.contains(active)) return null;
  return active.textContent;
}

function refocus(row, label) {
  if (label === null) return;
  focusIn(row, [...row.querySelectorAll("button")].find((node) => node.textContent === label));
}

// A message's buttons are hidden until the keyboard is in it: the row first.
function focusIn(row, control) {
  row.focus({ preventScroll: true });
  control?.focus();
}

// What depends on the whole list: a divider above each local day's first
// message, times that give the date once it is not today, the empty state, and
// which message is the list's one tab stop.
function renderList(now = new Date()) {
  let day = null;
  let between = []; // the dividers since the last message
  for (const node of [...list.children]) {
    if (!node.classList.contains("message")) {
      between.push(node);
      continue;
    }
    // A message still being sent is today's.
    const when = node.dataset.createdAt ? new Date(node.dataset.createdAt) : now;
    placeDay(node, between, dayKey(when) === day ? null : dayLabel(when, now));
    day = dayKey(when);
    between = [];
    const time = node.querySelector("time.message-time");
    // A continued message's time is short: the one above it has the date.
    const label = node.classList.contains("continued") ? clockLabel(when) : timeLabel(when, now);
    if (time && time.textContent !== label) time.textContent = label;
  }
  placeDay(null, between, null);
  emptyState.hidden = day !== null;
  renderTabStop();
}

// Keep in `between` (the nodes just above `row`) one day divider saying
// `label`, or none when `label` is null.
function placeDay(row, between, label) {
  const dividers = between.filter((node) => node.classList.contains("day-divider"));
  const [kept, ...extra] = label === null ? [null, ...dividers] : dividers;
  for (const node of extra) node.remove();
  if (label === null) return;
  if (kept) {
    if (kept.textContent !== label) kept.textContent = label;
    return;
  }
  list.insertBefore(element("li", "day-divider", label), between[0] ?? row);
}

function messageRows() {
  return [...list.querySelectorAll(":scope > li.message")];
}

// The list is one tab stop, as in Slack or Zulip: the message the keyboard was
// last in, or else the newest. The arrow keys move between messages
// (onListKey), and only the message the keyboard is in has its buttons and
// links in the tab order (controlsTabbable).
function renderTabStop() {
  const all = messageRows();
  const stop = focusRow?.parentNode === list ? focusRow : all.at(-1);
  for (const row of all) row.tabIndex = row === stop ? 0 : -1;
}

function controlsTabbable(row, tabbable) {
  for (const node of row.querySelectorAll(CONTROLS)) {
    if (tabbable) node.removeAttribute("tabindex");
    else node.tabIndex = -1;
  }
}

function onListKey(event) {
  const row = event.target.closest("li.message");
  if (!row || event.target.matches("textarea, input") || event.altKey || event.ctrlKey || event.metaKey) return;
  const all = messageRows();
  const at = all.indexOf(row);
  const moves = { ArrowUp: all[at - 1], ArrowDown: all[at + 1], Home: all[0], End: all.at(-1), Escape: input };
  if (!(event.key in moves)) return;
  event.preventDefault();
  if (event.key === "ArrowUp" && at === 0) {
    loadOlder().then(() => {
      const older = messageRows();
      older[older.indexOf(row) - 1]?.focus();
    });
  } else {
    moves[event.key]?.focus();
  }
}

// Each new message from someone else is said once by a screen reader: the log
// itself is not a live region, so neither a room's history nor an older page is.
function announce(row) {
  const text = `${row.dataset.authorName}: ${row.querySelector(".message-body").textContent}`;
  announcer.append(element("p", "", text));
  while (announcer.childElementCount > ANNOUNCED_KEPT) announcer.firstElementChild.remove();
}

// "New messages" goes above the first message after the read position that
// someone else wrote.
function showDivider(messages, read, unreadIds) {
  const first = messages.find(
    (m) => m.author !== me && !m.deleted && (m.seq !== undefined ? m.seq > read : unreadIds.has(m.id)),
  );
  if (!first) return null;
  const divider = element("li", "unread-divider");
  divider.append(element("span", "", "New messages"));
  list.insertBefore(divider, rows.get(first.id));
  regroup(rows.get(first.id));
  return divider;
}

function showUnsent(body) {
  const row = element("li", "message pending");
  row.tabIndex = -1;
  const meta = element("div", "message-meta");
  meta.append(element("span", "message-author", me), element("span", "message-time", "sending…"));
  row.append(meta, element("div", "message-body", body));
  list.append(row);
  renderList();
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
        row.focus();
        actions.remove();
        row.classList.replace("failed", "pending");
        setSendStatus(row, "sending…");
        unsent.set(cid, { ...pending, failures: 0 });
        socket.send(pending.stream, sendFrame(cid));
      }),
    );
  }
  actions.append(
    button("Edit", () => {
      row.remove();
      renderList();
      input.value = pending.body;
      input.focus();
    }),
    button("Dismiss", () => {
      row.remove();
      renderList();
      input.focus();
    }),
  );
  row.querySelector(".message-meta").append(actions);
}

// Each person with their avatar, a link to their page, and their name (a direct message).
function renderPresence() {
  const people = here((current && presence.get(current.stream)) ?? new Map());
  presenceList.replaceChildren(
    ...people.map((person) => {
      const item = element("li");
      const page = element("a", "avatar-link");
      page.href = personUrl(person.username);
      page.setAttribute("aria-label", `${person.name}'s page`);
      page.append(avatar(person.name, person.colour));
      if (person.username === me) item.append(page, `${person.name} (you)`);
      else item.append(page, authorName(person.username, person.name));
      return item;
    }),
  );
}

// Each user once, however many of their sockets are here: by display name, then username.
function here(refs) {
  const people = new Map();
  for (const person of refs.values()) people.set(person.username, person);
  const order = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return [...people.values()].sort(
    (a, b) =>
      order(a.name.toLowerCase(), b.name.toLowerCase()) || order(a.username, b.username),
  );
}

// The whole set once (presence.state), then what changed (presence.diff): leaves, then joins.
function presenceFrame(stream, frame) {
  if (frame.type === "presence.state") presence.set(stream, new Map());
  const refs = presence.get(stream);
  if (!refs) return; // a diff before the state: the state covers it
  for (const { ref } of frame.leaves ?? []) refs.delete(ref);
  for (const { ref, ...person } of frame.joins ?? frame.refs) refs.set(ref, person);
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

// The page's state is the socket's, except that a room being joined is not live yet.
function renderState() {
  let state = socketState;
  if (state === "live" && current && !current.gone && !socket.isReady(current.stream)) {
    state = shownState === "reconnecting" ? "reconnecting" : "connecting";
  }
  shownState = state;
  showState(root, stateLine, state);
}

// Whether a stream event is the server carrying out a command from this page.
function confirms(frame) {
  if (frame.type === "chat.message") return unsent.has(frame.message.client_id);
  return asked.delete(frame.message.id);
}

// Reactions ------------------------------------------------------------------------

// The emoji a message can be given (CHAT_REACTIONS). Tests and styles find a
// reaction by its data-emoji, never by how its glyph looks.
const reactionPalette = fromPage("chat-reaction-palette");
const reactedOn = new Set(); // ids of messages this page toggled a reaction on since the last error
let openPalette = null; // { popup, opener } while the palette of one message is open

// Under a message: a toggle button per emoji given (pressed when one of them is
// this user's), then the button that opens the palette.
function reactionBar(message) {
  const bar = element("div", "reactions");
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Reactions");
  const given = element("span", "reaction-list");
  renderReactions(given, message.id, message.reactions ?? []);
  const add = element("button", "reaction-add", "+");
  add.type = "button";
  add.title = "Add reaction";
  add.setAttribute("aria-label", "Add reaction");
  add.setAttribute("aria-haspopup", "true");
  add.setAttribute("aria-expanded", "false");
  add.addEventListener("click", () => togglePalette(add, message.id));
  bar.append(given, add);
  return bar;
}

function reactedBy(users) {
  return users.map((name) => (name === me ? "you" : name)).join(", ");
}

// The buttons of `reactions`, updated in place: one that keeps its emoji is the
// same element, so a keyboard user who pressed it keeps the focus on it.
function renderReactions(given, id, reactions) {
  const focused = given.contains(document.activeElement) ? document.activeElement : null;
  const old = new Map([...given.children].map((node) => [node.dataset.emoji, node]));
  let at = given.firstElementChild;
  for (const { emoji, count, users } of reactions) {
    let node = old.get(emoji);
    old.delete(emoji);
    if (!node) {
      node = element("button", "reaction");
      node.type = "button";
      node.dataset.emoji = emoji;
      node.append(element("span", "reaction-emoji", emoji), element("span", "reaction-count"));
      node.addEventListener("click", () => react(id, emoji));
    }
    node.setAttribute("aria-pressed", String(users.includes(me)));
    node.querySelector(".reaction-count").textContent = String(count);
    node.title = `${reactedBy(users)} reacted with ${emoji}`;
    if (node === at) at = at.nextElementSibling;
    else given.insertBefore(node, at);
  }
  for (const gone of old.values()) gone.remove();
  // A button that moved keeps the focus; when its emoji is gone, "Add reaction" takes it.
  if (focused && !focused.isConnected) given.nextElementSibling?.focus();
  else if (focused && document.activeElement !== focused) focused.focus();
}

function showReactions(frame) {
  const given = rows.get(frame.id)?.querySelector(".reaction-list");
  if (given) renderReactions(given, frame.id, frame.reactions);
}

// Called with each chat.reactions of a room, once, in seq order.
function reactionsEvent(stream, frame) {
  // Its seq moves the head the read position goes up to; it is no message, so
  // it counts as nothing unread.
  const entry = rooms.get(stream);
  if (entry) count(entry, frame);
  if (arriving?.stream === stream) arriving.frames.push(frame);
  if (current?.stream !== stream) return;
  if (reactedOn.delete(frame.id)) clearError();
  // The history the room was opened with already shows them as they are now.
  if (frame.seq > current.shown) showReactions(frame);
}

function react(id, emoji) {
  const frame = { type: "chat.react", id, emoji, client_id: clientId() };
  if (current && !current.gone && socket.send(current.stream, frame)) reactedOn.add(id);
  else showError("Not connected: the reaction was not sent.");
}

function togglePalette(opener, id) {
  const wasOpen = openPalette?.opener === opener;
  closePalette(false);
  if (!wasOpen) showPalette(opener, id);
}

// The palette: a button per emoji; arrow keys move between them, Escape closes
// it, and the focus goes back to the button that opened it.
function showPalette(opener, id) {
  const popup = element("div", "reaction-palette");
  popup.setAttribute("role", "group");
  popup.setAttribute("aria-label", "Pick a reaction");
  const mine = new Set(
    [...(opener.parentElement?.querySelectorAll(".reaction[aria-pressed=true]") ?? [])].map((n) => n.dataset.emoji),
  );
  for (const emoji of reactionPalette) {
    const choice = element("button", "reaction-choice", emoji);
    choice.type = "button";
    choice.dataset.emoji = emoji;
    choice.title = mine.has(emoji) ? `Take back ${emoji}` : `React with ${emoji}`;
    choice.setAttribute("aria-label", choice.title);
    choice.addEventListener("click", () => {
      closePalette(true);
      react(id, emoji);
    });
    popup.append(choice);
  }
  popup.addEventListener("keydown", (event) => {
    const choices = [...popup.children];
    const at = choices.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePalette(true);
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const step = event.key === "ArrowRight" ? 1 : -1;
      choices[(at + step + choices.length) % choices.length].focus();
    }
  });
  // The focus leaving it for another element (Tab past its end) closes it.
  popup.addEventListener("focusout", (event) => {
    const to = event.relatedTarget;
    if (to && !popup.contains(to) && to !== opener) closePalette(false);
  });
  opener.setAttribute("aria-expanded", "true");
  opener.after(popup);
  openPalette = { popup, opener };
  popup.firstElementChild?.focus();
}

// So does a click anywhere else (a click need not move the focus).
document.addEventListener("pointerdown", (event) => {
  if (!openPalette || openPalette.popup.contains(event.target) || openPalette.opener.contains(event.target)) return;
  closePalette(false);
});

function closePalette(refocus) {
  if (!openPalette) return;
  const { popup, opener } = openPalette;
  openPalette = null;
  popup.remove();
  opener.setAttribute("aria-expanded", "false");
  if (refocus && opener.isConnected) opener.focus();
}

// Streams --------------------------------------------------------------------------

// Every room the page shows or counts is one stream on the tab's socket.
function follow(stream, seq) {
  socket.join(stream, {
    seq,
    onEvent: (frame) => roomEvent(stream, frame),
    onFrame: (frame) => roomFrame(stream, frame),
    onReady: () => roomReady(stream),
    onLeft: (reason) => roomLeft(stream, reason),
  });
}

function roomEvent(stream, frame) {
  if (frame.type === "chat.reactions") {
    reactionsEvent(stream, frame);
    return;
  }
  const message = frame.message;
  const pending = unsent.get(message.client_id);
  const mine = frame.type === "chat.message" && message.author === me && pending?.stream === stream;
  const entry = rooms.get(stream);
  if (entry) count(entry, frame);
  if (arriving?.stream === stream) arriving.frames.push(frame);
  const open = current?.stream === stream;
  const confirmed = open && confirms(frame);
  if (mine) {
    if (pending.row.contains(document.activeElement)) focusRow = null;
    pending.row.remove();
    unsent.delete(message.client_id);
  }
  if (!open) return;
  if (confirmed) clearError();
  if (frame.type === "chat.message") {
    typers.delete(message.author);
    renderTyping();
  }
  // The history the room was opened with already shows it as it is now.
  if (frame.seq > current.shown) {
    const arrived = frame.type === "chat.message" && !rows.has(message.id);
    upsert(message);
    if (arrived && message.author !== me && !message.deleted) announce(rows.get(message.id));
  }
  markRead();
}

function roomFrame(stream, frame) {
  if (frame.type === "presence.state" || frame.type === "presence.diff") {
    presenceFrame(stream, frame);
    if (current?.stream === stream) renderPresence();
  } else if (current?.stream !== stream) {
    if (frame.type === "error" && unsent.has(frame.client_id)) onError(frame);
  } else if (frame.type === "chat.typing") {
    if (frame.user !== me) {
      typers.set(frame.user, Date.now() + TYPING_SHOWN_MS);
      renderTyping();
    }
  } else if (frame.type === "error") {
    onError(frame);
  }
}

// region: chat-resend
function roomReady(stream) {
  // Whatever was typed while offline, or was in flight when the socket
  // dropped: the server ignores a client_id it already has.
  for (const [cid, pending] of unsent) {
    if (pending.stream === stream) socket.send(stream, sendFrame(cid));
  }
  if (current?.stream === stream) {
    renderState();
    markRead();
  }
}

function onState(state) {
  socketState = state;
  renderState();
  if (ENDED.has(state)) {
    // The socket has stopped for good: nothing still unsent will be.
    for (const [cid, pending] of unsent) showFailed(cid, pending, state.replace("-", " "), false);
  }
}
// endregion

// The server stopped the stream: the user may no longer read the room.
function roomLeft(stream, reason) {
  presence.delete(stream);
  const entry = rooms.get(stream);
  if (entry) {
    rooms.delete(stream);
    entry.item.remove();
  }
  for (const [cid, pending] of unsent) {
    if (pending.stream === stream) showFailed(cid, pending, "you cannot post here", false);
  }
  if (current?.stream !== stream) return;
  current.gone = true;
  notice.textContent =
    reason === "not_found" ? "This room does not exist any more." : "You are not a member of this room any more.";
  notice.hidden = false;
  input.disabled = true;
  sendButton.disabled = true;
  renderPresence();
  renderState();
  renderJoin();
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
      if (unsent.get(cid) === pending) socket.send(pending.stream, sendFrame(cid));
    }, RETRY_EVERY_MS);
  } else {
    showFailed(cid, pending, frame.detail, frame.code === "server_error");
  }
}
// endregion

// The personal stream: what concerns this user in any room, in every tab.
function personalEvent(frame) {
  if (frame.type === "user.read") {
    const entry = rooms.get(frame.room);
    if (entry) countRead(entry, frame.read);
  } else if (frame.type === "user.joined") {
    addRoom(frame.room);
  } else if (frame.type === "user.left") {
    removeRoom(frame.room);
  } else if (frame.type === "user.mentioned") {
    const entry = rooms.get(frame.room);
    if (entry) countMention(entry, frame);
    notifyMention(frame, entry);
  }
}

const socket = new MultiplexSocket({
  personal: {
    seq: app.personal,
    onEvent: personalEvent,
    onFrame: () => {},
  },
  onFrame: (frame) => frame.type === "error" && showError(frame.detail),
  onState,
});

// Opening a room ---------------------------------------------------------------------

// Another room, without a reload: its history comes as JSON (with its head and
// read position), the address changes, and the socket follows one more stream
// if the room is not in the sidebar already.
async function openRoom(url, { push = true, message = null } = {}) {
  const attempt = ++opening;
  closeSidebar();
  const path = new URL(url, window.location.href).pathname;
  const known = [...rooms.values()].find((e) => new URL(e.url, window.location.href).pathname === path);
  arriving = known ? { stream: known.stream, frames: [] } : null;
  let response;
  try {
    response = await fetch(historyUrl(url), {
      headers: { Accept: "application/json" },
    });
  } catch {
    if (attempt === opening) showError("Could not open the room: the server cannot be reached.");
    return;
  }
  const page = response.ok ? await response.json() : null;
  if (attempt !== opening) return;
  if (!page) {
    // Not found, or not readable any more: the page at that address says which.
    window.location.assign(url);
    return;
  }
  if (push) window.history.pushState({ url }, "", url);
  show(page, page.at ?? message);
}

// The room's history as it opens; around one message for an address with ?at=<id>.
function historyUrl(url) {
  const address = new URL(url, window.location.href);
  const history = new URL("history", address);
  const at = address.searchParams.get("at");
  if (at) history.searchParams.set("around", at);
  return history;
}

function show(page, message) {
  const previous = current;
  const room = page.room;
  if (previous && previous.stream !== room.stream && !rooms.has(previous.stream)) {
    socket.leave(previous.stream);
    presence.delete(previous.stream);
  }
  current = {
    stream: room.stream,
    name: room.name,
    url: room.url,
    history: new URL("history", new URL(room.url, window.location.href)).pathname,
    shown: page.head,
    hasOlder: page.more,
    gone: false,
  };
  // The sidebar's count, kept live, knows which messages are unread; a room
  // not in the sidebar has none.
  const unreadIds = rooms.get(room.stream)?.unreadIds ?? new Map();
  for (const other of rooms.values()) renderEntry(other);
  heading.textContent = room.name;
  renderTitle();
  notice.hidden = true;
  input.disabled = false;
  sendButton.disabled = false;
  typers.clear();
  renderTyping();
  clearError();
  rows.clear();
  focusRow = null;
  announcer.replaceChildren();
  list.replaceChildren();
  for (const item of page.messages) upsert(item);
  if (arriving?.stream === room.stream) {
    for (const frame of arriving.frames) {
      if (frame.seq <= page.head) continue;
      if (frame.type === "chat.reactions") showReactions(frame);
      else upsert(frame.message);
    }
  }
  arriving = null;
  const divider = showDivider(page.messages, page.read, unreadIds);
  for (const pending of unsent.values()) if (pending.stream === room.stream) list.append(pending.row);
  renderList();
  olderButton.hidden = !current.hasOlder;
  setNewer(current, page.messages, page.newer ?? false);
  if (!socket.has(room.stream)) follow(room.stream, page.head);
  renderPresence();
  renderState();
  renderJoin();
  const target = message !== null ? rows.get(message) : divider;
  if (target) {
    target.scrollIntoView({ block: message !== null ? "center" : "start" });
    if (message !== null) target.classList.add("highlight");
  } else {
    list.scrollTop = list.scrollHeight;
  }
  // Ready to type, as in Slack; not on a touch screen, where it would open the keyboard.
  if (!window.matchMedia("(pointer: coarse)").matches) input.focus({ preventScroll: true });
  markRead();
}

// Notifications of mentions, for a tab in the background, if the user asked for them.
function notifyWanted() {
  return (
    "Notification" in window &&
    Notification.permission === "granted" &&
    window.localStorage.getItem(NOTIFY_KEY) === "on"
  );
}

function renderNotifyToggle() {
  if (!("Notification" in window)) {
    notifyToggle.hidden = true;
    return;
  }
  const on = notifyWanted();
  const blocked = Notification.permission === "denied";
  notifyToggle.setAttribute("aria-pressed", String(on));
  notifyToggle.disabled = blocked;
  if (blocked) notifyToggle.textContent = "Notifications are blocked in this browser";
  else notifyToggle.textContent = on ? "Mention notifications: on" : "Notify me of mentions";
}

async function toggleNotify() {
  if (notifyWanted()) {
    window.localStorage.removeItem(NOTIFY_KEY);
  } else if ((await Notification.requestPermission()) === "granted") {
    window.localStorage.setItem(NOTIFY_KEY, "on");
  }
  renderNotifyToggle();
}

function notifyMention(frame, entry) {
  // Not for what a reconnect replays, nor in a tab the user is looking at.
  if (!socket.isLive || document.visibilityState !== "hidden" || !notifyWanted()) return;
  const where = entry ? ` in ${entry.name}` : "";
  const note = new Notification(`${frame.author} mentioned you${where}`, {
    body: frame.excerpt,
    tag: `mention-${frame.message}`,
  });
  const url = entry?.url ?? `/chat/${encodeURIComponent(frame.room.slice("chat:".length))}/`;
  note.addEventListener("click", () => {
    window.focus();
    note.close();
    openRoom(url, { message: frame.message });
  });
}

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
  if (!body || !current || current.gone) return;
  const cid = clientId();
  const pending = { stream: current.stream, body, row: showUnsent(body), failures: 0 };
  unsent.set(cid, pending);
  if (ENDED.has(socketState)) showFailed(cid, pending, socketState.replace("-", " "), false);
  else socket.send(current.stream, sendFrame(cid));
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
  // The keyboard goes back where it came from, not to the top of the page.
  const close = () => {
    editor.replaceWith(body);
    focusIn(row, [...row.querySelectorAll(".message-actions button")].find((node) => node.textContent === "Edit"));
  };
  const cancel = button("Cancel", close);
  editor.append(area, save, cancel);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = area.value.trim();
    const id = Number(row.dataset.id);
    const frame = { type: "chat.edit", id, body: text };
    if (text && text !== row.dataset.body && socket.send(current.stream, frame)) asked.add(id);
    close();
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      editor.requestSubmit();
    } else if (event.key === "Escape") {
      close();
    }
  });
  body.replaceWith(editor);
  area.focus();
}

function deleteMessage(row) {
  const id = Number(row.dataset.id);
  if (window.confirm("Delete this message?") && socket.send(current.stream, { type: "chat.delete", id })) {
    asked.add(id);
    // Its buttons go with it: the keyboard goes on to the next message, or to the composer.
    const all = messageRows();
    (all[all.indexOf(row) + 1] ?? input).focus();
  }
}

// The page's CSRF token, for the POSTs it makes itself.
function csrfToken() {
  return document.querySelector("#dm-form [name=csrfmiddlewaretoken]").value;
}

// A direct message with `name`: the server finds the one there is, or opens it.
async function startDm(name) {
  const response = await fetch(dmUrl, {
    method: "POST",
    body: new URLSearchParams({ usernames: name }),
    headers: { "X-CSRFToken": csrfToken() },
  });
  if (response.ok && response.redirected) openRoom(new URL(response.url).pathname);
  else showError(`Could not open a conversation with ${name}.`);
}

async function loadOlder() {
  const room = current;
  if (!room?.hasOlder || loadingOlder) return;
  const first = list.querySelector("li[data-id]");
  if (!first) return;
  loadingOlder = true;
  try {
    const page = await fetchOlder(room.history, first.dataset.id);
    if (!page || room !== current) return;
    const height = list.scrollHeight;
    const top = list.scrollTop;
    for (const message of page.messages) if (!rows.has(message.id)) upsert(message);
    // Keep what the reader was looking at where it was.
    list.scrollTop = top + (list.scrollHeight - height);
    room.hasOlder = page.more;
    olderButton.hidden = !room.hasOlder;
  } finally {
    loadingOlder = false;
  }
}

// After a jump to a message (?at=) the list may end before the room does: the newer
// messages come a page at a time, from the last one loaded, as the reader goes down.
// Live messages still arrive meanwhile; each page fills in before them.
function setNewer(room, messages, newer) {
  if (messages.length) room.newest = messages[messages.length - 1].id;
  room.hasNewer = newer;
  newerButton.hidden = !newer;
}

async function loadNewer() {
  const room = current;
  if (!room?.hasNewer || loadingNewer) return;
  loadingNewer = true;
  try {
    const response = await fetch(`${room.history}?after=${room.newest}`, {
      headers: { Accept: "application/json" },
    });
    const page = response.ok ? await response.json() : null;
    if (!page || room !== current) return;
    // Keep the reader where they were: the page goes below what they are reading.
    const top = list.scrollTop;
    for (const message of page.messages) if (!rows.has(message.id)) upsert(message);
    list.scrollTop = top;
    setNewer(room, page.messages, page.newer);
    markRead();
  } finally {
    loadingNewer = false;
  }
}

// On a narrow screen the sidebar folds behind a button.
function closeSidebar() {
  root.classList.remove("sidebar-open");
  sidebarToggle.setAttribute("aria-expanded", "false");
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
  if (
    input.value &&
    current &&
    now - lastTypingSent > TYPING_SEND_EVERY_MS &&
    socket.send(current.stream, { type: "chat.typing" })
  ) {
    lastTypingSent = now;
  }
});
list.addEventListener("keydown", onListKey);
list.addEventListener("focusin", (event) => {
  const row = event.target.closest("li.message");
  if (!row) return;
  focusRow = row;
  renderTabStop();
  controlsTabbable(row, true);
});
list.addEventListener("focusout", (event) => {
  const row = event.target.closest("li.message");
  if (row && !row.contains(event.relatedTarget)) controlsTabbable(row, false);
});
// Buttons and links come into messages from many places (a redrawn row, an
// edit box, whatever a message shows): each is out of the tab order unless the
// keyboard is in its message.
new MutationObserver((changes) => {
  for (const change of changes) {
    for (const node of change.addedNodes) {
      const row = node.nodeType === Node.ELEMENT_NODE && node.closest("li.message");
      if (row) controlsTabbable(row, row.contains(document.activeElement));
    }
  }
}).observe(list, { childList: true, subtree: true });
// "Today" becomes "Yesterday" at midnight, and times gain their date.
window.setInterval(() => renderList(), 60 * 1000);
list.addEventListener("scroll", () => {
  if (list.scrollTop < 40) loadOlder();
  if (nearBottom()) loadNewer();
  markRead();
});
olderButton.addEventListener("click", loadOlder);
newerButton.addEventListener("click", loadNewer);
document.getElementById("chat-error-dismiss").addEventListener("click", clearError);
document.addEventListener("visibilitychange", markRead);
window.addEventListener("focus", markRead);
window.addEventListener("popstate", (event) => {
  openRoom(event.state?.url ?? window.location.pathname, { push: false });
});
sidebarToggle.addEventListener("click", () => {
  const open = root.classList.toggle("sidebar-open");
  sidebarToggle.setAttribute("aria-expanded", String(open));
  if (open) document.querySelector("#sidebar a")?.focus();
});
document.getElementById("sidebar").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && root.classList.contains("sidebar-open")) {
    closeSidebar();
    sidebarToggle.focus();
  }
});
notifyToggle.addEventListener("click", toggleNotify);
joinButton.addEventListener("click", joinRoom);

// The open room from the seq its history was read at, which may be before the sidebar's.
follow(app.room.stream, app.head);
for (const room of app.sidebar) addRoom(room);
window.history.replaceState({ url: app.room.url }, "", window.location.href);
renderNotifyToggle();
const linked = /^#message-(\d+)$/.exec(window.location.hash);
show(app, app.at ?? (linked ? Number(linked[1]) : null));
socket.start();
