// The liveblog page: applies post events, holds new updates behind a banner while
// the reader is reading further down, and gives editors their desk.
//
// Every post the page knows of is kept in `posts`; `layout(id)` then puts it
// where it belongs (timeline, pinned box, key events, drafts) or removes it.
// The server renders the same markup, so the first layout changes nothing visible.
import { button, element, fetchOlder, showState } from "./page.js";
import { avatar } from "./people.js";
import { ARTICLE_TAGS, safeFragment } from "./safe-html.js";
import { StreamSocket } from "./stream.js";

const PREVIEW_DELAY_MS = 250;
const MINUTE_MS = 60 * 1000;
// The states in which updates arrive by themselves: the LIVE badge says all there is.
const QUIET_STATES = new Set(["connecting", "live"]);
// The reader is "reading" once the top of the timeline has scrolled this far out of view.
const READING_OFFSET_PX = 40;
// How many of the latest announcements stay in the live region.
const ANNOUNCED_KEPT = 5;

const root = document.getElementById("liveblog");
const isEditor = root.dataset.editor === "true";
const timeline = document.getElementById("timeline");
const emptyLine = document.getElementById("timeline-empty");
const pinnedBox = document.getElementById("pinned-box");
const pinnedList = document.getElementById("pinned");
const keyBox = document.getElementById("key-events-box");
const keyList = document.getElementById("key-events");
const draftList = document.getElementById("drafts");
const banner = document.getElementById("new-updates");
const announcer = document.getElementById("announcer");
const stateLine = document.getElementById("connection-state");
const readerCount = document.getElementById("reader-count");
const olderLink = document.getElementById("load-older");
const composer = document.getElementById("composer");
const composerErrors = document.getElementById("composer-errors");
const deskNotice = document.getElementById("desk-notice");
const preview = document.getElementById("preview");
// Not composer.action: the buttons named "action" shadow that property.
const postsUrl = root.dataset.posts;
const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]")?.value ?? "";
const initial = JSON.parse(document.getElementById("initial-posts").textContent);

const posts = new Map(); // id -> post, as the stream last described it
const held = new Set(); // ids of new updates waiting behind the banner
const editing = new Set(); // ids whose text an editor is changing in place
let baseTitle = document.title;
let more = initial.more;
const paged = initial.paged;
// The oldest post of the pages loaded so far: anything older waits for "load older".
let boundary = null;

// Posts ---------------------------------------------------------------------------

const isPublished = (post) => post.state === undefined || post.state === "published";
const millis = (iso) => Date.parse(iso);

function newerFirst(a, b) {
  return millis(b.published_at) - millis(a.published_at) || b.id - a.id;
}

function draftOrder(a, b) {
  const at = (post) => (post.publish_at ? millis(post.publish_at) : Infinity);
  return at(a) - at(b) || millis(b.created_at) - millis(a.created_at);
}

function beyondLoaded(post) {
  return more && boundary !== null && newerFirst(post, boundary) > 0;
}

function remember(list) {
  for (const post of list) posts.set(post.id, post);
  if (list.length) boundary = list[list.length - 1];
}

// Times ------------------------------------------------------------------------------
// The same words as liveblog/templatetags/liveblog_time.py, in the browser's own zone.

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
const pad = (n) => String(n).padStart(2, "0");

function clock(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// HH:MM on the day it is, with the date on any other day, and the year in another year.
function timeLabel(date, now = new Date()) {
  if (date.toDateString() === now.toDateString()) return clock(date);
  const day = `${date.getDate()} ${MONTHS[date.getMonth()].slice(0, 3)}`;
  if (date.getFullYear() === now.getFullYear()) return `${day} ${clock(date)}`;
  return `${day} ${date.getFullYear()} ${clock(date)}`;
}

function timeTitle(date) {
  const day = `${DAYS[date.getDay()]} ${date.getDate()} ${MONTHS[date.getMonth()]}`;
  return `${day} ${date.getFullYear()}, ${clock(date)}`;
}

function timeAgo(date, now = new Date()) {
  const minutes = Math.floor((now - date) / MINUTE_MS);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ago`;
  return `${Math.floor(minutes / (24 * 60))} d ago`;
}

function timeElement(iso) {
  const date = new Date(iso);
  const time = element("time", "", timeLabel(date));
  time.dateTime = iso;
  time.title = timeTitle(date);
  return time;
}

function agoElement(iso) {
  const ago = element("span", "post-ago", timeAgo(new Date(iso)));
  ago.dataset.since = iso;
  return ago;
}

// Each minute: "5 min ago" moves on, and a time from yesterday gains its date at midnight.
function refreshTimes() {
  const now = new Date();
  for (const time of root.querySelectorAll("time")) {
    const date = new Date(time.dateTime);
    time.textContent = timeLabel(date, now);
    time.title = timeTitle(date);
  }
  for (const ago of root.querySelectorAll(".post-ago")) {
    ago.textContent = timeAgo(new Date(ago.dataset.since), now);
  }
}

// Rendering -------------------------------------------------------------------------

function actionButton(action, label, extraClass = "") {
  const node = element("button", `link-button ${extraClass}`.trim(), label);
  node.type = "submit";
  node.name = "action";
  node.value = action;
  return node;
}

function actions(post) {
  const form = element("form", "post-actions");
  form.method = "post";
  form.setAttribute("action", `${postsUrl}/${post.id}`);
  const token = element("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = csrfToken;
  form.append(
    token,
    button("Edit", () => startEdit(post.id)),
    isPublished(post) ? actionButton("unpublish", "Unpublish") : actionButton("publish", "Publish now"),
    post.pinned ? actionButton("unpin", "Unpin") : actionButton("pin", pinLabel()),
    post.key_event ? actionButton("unkey", "Not a key event") : actionButton("key", "Mark as key event"),
    actionButton("delete", "Delete", "danger"),
  );
  return form;
}

// Pinning a post unpins the one pinned before: the button says so before it is pressed.
function pinLabel() {
  const pinned = Array.from(posts.values()).some((post) => post.pinned);
  return pinned ? "Pin (replaces the pinned post)" : "Pin";
}

function fillRow(row, post) {
  row.className = "post";
  row.classList.toggle("key-event", post.key_event);
  row.classList.toggle("pinned", post.pinned);
  row.dataset.id = post.id;
  row.tabIndex = -1;
  const meta = element("header", "post-meta");
  if (post.published_at) {
    const link = element("a", "post-time");
    link.href = `#post-${post.id}`;
    link.append(timeElement(post.published_at));
    meta.append(link, agoElement(post.published_at));
  } else if (post.publish_at) {
    const state = element("span", "post-state", "Scheduled for ");
    state.append(timeElement(post.publish_at));
    meta.append(state);
  } else {
    meta.append(element("span", "post-state", "Draft"));
  }
  const byline = element("span", "post-author", post.author_name);
  if (post.author) byline.prepend(avatar(post.author_name, post.author_colour));
  meta.append(byline);
  if (post.key_event) meta.append(element("span", "badge badge-key", "Key event"));
  if (post.pinned) meta.append(element("span", "badge badge-pinned", "Pinned"));
  if (post.edited_at) meta.append(element("span", "post-edited", "(edited)"));
  const body = element("div", "post-body");
  body.append(safeFragment(post.html, ARTICLE_TAGS));
  const article = element("article");
  article.append(meta, body);
  if (isEditor) article.append(actions(post));
  row.replaceChildren(article);
}

// Put `post` in `list` under `rowId` in `order`, or take it out when `post` is null.
function place(list, rowId, post, order) {
  let row = document.getElementById(rowId);
  if (row && row.parentElement !== list) row = null;
  if (!post) {
    row?.remove();
    return;
  }
  const hadFocus = row?.contains(document.activeElement);
  if (!row) {
    row = element("li");
    row.id = rowId;
  }
  fillRow(row, post);
  const next = Array.from(list.children).find(
    (other) => other !== row && order(post, posts.get(Number(other.dataset.id))) < 0,
  );
  if (row.nextElementSibling !== next || row.parentElement !== list) list.insertBefore(row, next ?? null);
  // Live changes never move focus; keep it on the row an editor was using.
  if (hadFocus) row.focus({ preventScroll: true });
}

function placeKeyEvent(id, post) {
  let item = keyList.querySelector(`li[data-id="${id}"]`);
  if (!post) {
    item?.remove();
    return;
  }
  if (!item) item = element("li");
  item.dataset.id = id;
  const link = element("a");
  link.href = `#post-${id}`;
  link.append(timeElement(post.published_at), " ", element("span", "key-event-summary", post.summary));
  item.replaceChildren(link);
  const next = Array.from(keyList.children).find(
    (other) => other !== item && newerFirst(post, posts.get(Number(other.dataset.id))) < 0,
  );
  keyList.insertBefore(item, next ?? null);
}

function reading() {
  return paged || timeline.getBoundingClientRect().top < -READING_OFFSET_PX;
}

// `arriving`: the stream has just told of this post. Only such a post can be new;
// one loaded from history is old however far down the reader is.
function layout(id, arriving = false) {
  const post = posts.get(id);
  const published = post !== undefined && isPublished(post);
  const inTimeline = published && !beyondLoaded(post);
  const isNew = arriving && inTimeline && !document.getElementById(`post-${id}`);
  if (isNew && reading()) held.add(id);
  if (isNew) announce(post);
  if (!inTimeline) held.delete(id);
  if (!editing.has(id)) {
    if (isEditor) place(draftList, `post-${id}`, post && !published ? post : null, draftOrder);
    place(timeline, `post-${id}`, inTimeline && !held.has(id) ? post : null, newerFirst);
  }
  place(pinnedList, `pinned-${id}`, published && post.pinned ? post : null, newerFirst);
  placeKeyEvent(id, published && post.key_event ? post : null);
}

// Said once, as the post arrives, whether it goes straight in or waits behind the banner.
function announce(post) {
  announcer.append(element("p", "", post.summary ? `New update: ${post.summary}` : "New update"));
  while (announcer.childElementCount > ANNOUNCED_KEPT) announcer.firstElementChild.remove();
}

function refreshChrome() {
  pinnedBox.hidden = pinnedList.children.length === 0;
  keyBox.hidden = keyList.children.length === 0;
  emptyLine.hidden = timeline.children.length > 0 || held.size > 0;
  const count = held.size;
  banner.hidden = count === 0;
  banner.textContent = `${count} new update${count === 1 ? "" : "s"}`;
  document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
  if (olderLink) olderLink.hidden = !more;
  if (isEditor) {
    // The pin buttons' words depend on whether any post is pinned.
    const label = pinLabel();
    for (const pin of root.querySelectorAll('.post-actions button[value="pin"]')) pin.textContent = label;
  }
}

function layoutAll() {
  for (const id of posts.keys()) layout(id);
  refreshChrome();
}

// New updates wait while the reader reads; they come in when asked for, or at the top.
function reveal() {
  const ids = Array.from(held);
  held.clear();
  for (const id of ids) layout(id);
  refreshChrome();
  return ids;
}

banner.addEventListener("click", () => {
  if (paged) {
    window.location.assign(window.location.pathname);
    return;
  }
  const ids = reveal();
  timeline.scrollIntoView({ block: "start" });
  // The banner is gone; the reader asked for the new updates, so the newest takes focus.
  const newest = ids.map((id) => posts.get(id)).sort(newerFirst)[0];
  if (newest) document.getElementById(`post-${newest.id}`)?.focus({ preventScroll: true });
});

window.addEventListener(
  "scroll",
  () => {
    if (held.size && !reading()) reveal();
  },
  { passive: true },
);

// Stream events ----------------------------------------------------------------------

function updateLiveblog(liveblog) {
  document.getElementById("liveblog-title").textContent = liveblog.title;
  document.getElementById("liveblog-description").textContent = liveblog.description;
  baseTitle = `${liveblog.title} · Live`;
  const ended = liveblog.ended_at !== null;
  document.getElementById("live-badge").hidden = ended;
  document.getElementById("ended-badge").hidden = !ended;
  const desk = document.getElementById("editor-desk");
  if (desk) desk.hidden = ended;
  const reopen = document.getElementById("reopen-form");
  if (reopen) reopen.hidden = !ended;
}

function applyEvent(frame) {
  if (frame.type === "liveblog.updated") {
    updateLiveblog(frame.liveblog);
  } else if (frame.type === "liveblog.post_deleted") {
    posts.delete(frame.post.id);
    editing.delete(frame.post.id);
    layout(frame.post.id);
  } else {
    posts.set(frame.post.id, frame.post);
    layout(frame.post.id, true);
  }
  refreshChrome();
}

function applyFrame(frame) {
  if (frame.type === "presence") {
    readerCount.textContent = `${frame.count} reading`;
  } else if (frame.type === "error") {
    console.warn("liveblog socket:", frame.code, frame.detail);
  }
}

// Older updates -------------------------------------------------------------------------

async function loadOlder(event) {
  event.preventDefault();
  if (!boundary) return;
  olderLink.setAttribute("aria-busy", "true");
  try {
    const page = await fetchOlder(root.dataset.history, boundary.id);
    if (!page) return;
    // Live events may already have told us of some of these: the stream's version wins.
    for (const post of page.posts) if (!posts.has(post.id)) posts.set(post.id, post);
    if (page.posts.length) boundary = page.posts[page.posts.length - 1];
    more = page.more;
    layoutAll();
  } finally {
    olderLink.removeAttribute("aria-busy");
  }
}

olderLink?.addEventListener("click", loadOlder);

// The editors' desk -----------------------------------------------------------------------

async function post(url, data) {
  const response = await fetch(url, {
    method: "POST",
    body: data,
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
  });
  if (response.ok) return { ok: true, data: await response.json() };
  let errors = [`The server said ${response.status}.`];
  try {
    errors = (await response.json()).errors ?? errors;
  } catch {
    // not JSON: keep the status line
  }
  return { ok: false, errors };
}

function showErrors(errors) {
  composerErrors.textContent = errors.join(" ");
  if (errors.length) deskNotice.textContent = "";
}

function showNote(note) {
  deskNotice.textContent = note ?? "";
  composerErrors.textContent = "";
}

function startEdit(id) {
  const row = document.getElementById(`post-${id}`);
  const current = posts.get(id);
  if (!row || !current) return;
  editing.add(id);
  const form = element("form", "edit-form");
  const label = element("label", "", "Edit update");
  label.htmlFor = `edit-${id}`;
  const textarea = element("textarea");
  textarea.id = `edit-${id}`;
  textarea.rows = 6;
  textarea.value = current.body;
  const save = element("button", "", "Save");
  save.type = "submit";
  const cancel = element("button", "secondary", "Cancel");
  cancel.type = "button";
  const finish = () => {
    editing.delete(id);
    layout(id);
    refreshChrome();
  };
  cancel.addEventListener("click", finish);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.set("action", "edit");
    data.set("body", textarea.value);
    const result = await post(`${postsUrl}/${id}`, data);
    if (result.ok) finish();
    else showErrors(result.errors);
  });
  form.append(label, textarea, save, cancel);
  row.querySelector(".post-body").replaceWith(form);
  textarea.focus();
}

function setUpDesk() {
  // A post's buttons: one handler for every row, present and future.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList?.contains("post-actions")) return;
    event.preventDefault();
    const action = event.submitter?.value;
    if (action === "delete" && !window.confirm("Delete this update?")) return;
    const result = await post(form.getAttribute("action"), new FormData(form, event.submitter));
    if (result.ok) showNote(result.data.note);
    else showErrors(result.errors);
  });

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(composer, event.submitter);
    const at = data.get("publish_at");
    // datetime-local has no zone: send the moment the editor means, with its offset.
    // A time is sent whatever the button, so the server refuses Publish with a time.
    if (at) data.set("publish_at", new Date(at).toISOString());
    const result = await post(postsUrl, data);
    if (result.ok) {
      composer.reset();
      preview.replaceChildren();
      showNote(result.data.note);
    } else {
      showErrors(result.errors);
    }
  });
  // An error is about what was sent: once the editor changes the form, it no longer applies.
  composer.addEventListener("input", () => showErrors([]));

  const input = document.getElementById("update-input");
  let timer = null;
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      const data = new FormData();
      data.set("body", input.value);
      const result = await post(root.dataset.preview, data);
      if (result.ok) preview.replaceChildren(safeFragment(result.data.html, ARTICLE_TAGS));
    }, PREVIEW_DELAY_MS);
  });
}

// Start ----------------------------------------------------------------------------------

remember(initial.posts);
for (const list of [initial.key_events, initial.drafts]) {
  for (const item of list) posts.set(item.id, item);
}
if (initial.pinned) posts.set(initial.pinned.id, initial.pinned);
layoutAll();
refreshTimes();
window.setInterval(refreshTimes, MINUTE_MS);
if (isEditor && composer) setUpDesk();

const socket = new StreamSocket({
  path: root.dataset.socket,
  seq: Number(root.dataset.seq),
  onEvent: applyEvent,
  onFrame: applyFrame,
  onState: (state) => {
    showState(root, stateLine, state);
    stateLine.hidden = QUIET_STATES.has(state);
  },
});
socket.start();
