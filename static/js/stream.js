// The socket clients every stream page uses: StreamSocket (one stream per
// socket: a liveblog) and MultiplexSocket (one socket per tab carrying many
// streams: the chat app's rooms and the user's personal stream).
//
// The page was rendered at some seq of each stream; the socket asks for
// everything after the last seq this client applied, applies each seq exactly
// once and in order, asks again when it sees a gap, and reconnects with
// backoff and jitter. The per-stream part of that is StreamSequence, which
// both sockets use.

// region: client-keepalive
// A socket whose pong has not come within PONG_WITHIN_MS of its ping is dead,
// whatever its readyState says (a frozen server, a proxy holding the traffic).
const PING_EVERY_MS = 10000;
const PONG_WITHIN_MS = 5000;
// endregion
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;

// Close codes after which reconnecting would not help (streams/consumers.py):
// the session ended, or the user's rights changed and the page must be loaded
// again to be authorised anew. The socket stops and the page says why.
const ENDED = { 4401: "signed-out", 4403: "access-changed" };

// The personal stream's name on the multiplexed socket (streams/personal.py).
export const PERSONAL = "user";

// The wait before each retry doubles from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS;
// at most one retry is pending at a time.
class Backoff {
  constructor() {
    this.attempt = 0;
    this.timer = null;
  }

  schedule(retry) {
    if (this.timer !== null) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    // Jitter over the top half: after a server restart, clients do not all come back at once.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = window.setTimeout(() => {
      this.timer = null;
      retry();
    }, delay);
  }

  cancel() {
    window.clearTimeout(this.timer);
    this.timer = null;
  }

  // The server took us back: the next drop starts again from the shortest wait.
  reset() {
    this.attempt = 0;
  }
}

// One stream's events, applied once each and in seq order, whatever socket
// carries them. askSync(after) sends the socket's `stream.sync` for this stream.
export class StreamSequence {
  // seq: the seq the page was rendered at, or null to start at the head the
  // server names in its first stream.ready (no replay).
  constructor({ seq, onEvent, askSync }) {
    this.applied = seq;
    this.onEvent = onEvent;
    this.askSync = askSync;
    this.ahead = new Map();
    this.syncing = false;
  }

  // The server replayed what followed `after` and says the stream is at `head`.
  ready(head) {
    this.syncing = false;
    if (this.applied === null) this.applied = head;
    if (head > this.applied) this.sync();
  }

  // A head heard in a pong: the last event may be the one that was lost.
  heard(head) {
    if (head > this.applied && !this.syncing) this.sync();
  }

  // The socket went away: a sync asked on it is no longer awaited.
  dropped() {
    this.syncing = false;
  }

  // region: stream-sequence
  // Apply events in seq order, each once; hold early ones and ask for the gap.
  sequence(frame) {
    if (frame.seq <= this.applied) return;
    this.ahead.set(frame.seq, frame);
    while (this.ahead.has(this.applied + 1)) {
      const next = this.ahead.get(this.applied + 1);
      this.ahead.delete(this.applied + 1);
      this.applied += 1;
      this.onEvent(next);
    }
    if (this.ahead.size > 0 && !this.syncing) this.sync();
  }
  // endregion

  sync() {
    this.syncing = true;
    this.askSync(this.applied);
  }
}

// A WebSocket that comes back: connection, keepalive, backoff and the states
// the page shows. Subclasses say where to connect (url()), what to send once
// open (opened()) and what a frame means (receive(frame)).
class Connection {
  // onState(state): "connecting" | "live" | "reconnecting", or, for good,
  // "signed-out" | "access-changed".
  constructor({ onState }) {
    this.onState = onState;
    this.ws = null;
    this.state = null;
    this.backoff = new Backoff();
    this.pingTimer = null;
    this.pongTimer = null;
    // Kept so that stop() can remove exactly what start() added.
    this.onOnline = () => this.reconnectNow();
    // A tab that comes back (a laptop that slept) checks its socket at once.
    this.onVisibility = () => {
      if (document.visibilityState === "visible") this.ping();
    };
  }

  start() {
    this.connect();
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  // Close the socket for good: no retry, timer or listener is left behind, and
  // what the page shows from then on is the page's to say (onState is not called).
  stop() {
    this.backoff.cancel();
    this.teardown();
    this.state = null;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  get isLive() {
    return this.state === "live";
  }

  address(path, after) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${path}?after=${after}`;
  }

  connect() {
    this.setState(this.state === null ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.pingTimer = window.setInterval(() => this.ping(), PING_EVERY_MS);
      this.opened();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "pong") this.ponged();
      this.receive(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      if (event.code in ENDED) this.ended(ENDED[event.code]);
      else this.dropped();
    });
  }

  opened() {}

  // Send a frame on the open socket, live or not.
  write(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Let go of the current socket: its late events are ignored (they are not
  // from this.ws), its pings stop, and a sync asked on it is no longer awaited.
  teardown() {
    window.clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.ponged();
    this.released();
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  released() {}

  ended(state) {
    this.stop();
    this.setState(state);
  }

  dropped() {
    this.teardown();
    if (this.state !== "reconnecting") this.setState("reconnecting");
    this.backoff.schedule(() => this.connect());
  }

  reconnectNow() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN && this.isLive) return;
    this.backoff.cancel();
    this.teardown();
    this.connect();
  }

  // The server took the socket back and replayed what it missed.
  welcomed() {
    this.backoff.reset();
    this.setState("live");
  }

  // A socket can die without a close event (a sleeping laptop, a dead proxy, a
  // frozen server): one that does not answer a ping in time is dropped.
  ping() {
    if (!this.write({ type: "ping" }) || this.pongTimer !== null) return;
    this.pongTimer = window.setTimeout(() => {
      this.pongTimer = null;
      this.dropped();
    }, PONG_WITHIN_MS);
  }

  ponged() {
    window.clearTimeout(this.pongTimer);
    this.pongTimer = null;
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }
}

export class StreamSocket extends Connection {
  // path: "/ws/liveblog/launch/"; seq: the seq the page was rendered at;
  // onEvent(frame): each stream event, once, in seq order;
  // onFrame(frame): everything else (presence, typing, errors);
  // onState(state): as Connection's.
  constructor({ path, seq, onEvent, onFrame, onState }) {
    super({ onState });
    this.path = path;
    this.onFrame = onFrame;
    this.stream = new StreamSequence({
      seq,
      onEvent,
      askSync: (after) => this.write({ type: "stream.sync", after }),
    });
  }

  get applied() {
    return this.stream.applied;
  }

  // Send a frame if the socket is live; returns whether it was sent.
  send(frame) {
    return this.isLive && this.write(frame);
  }

  url() {
    return this.address(this.path, this.stream.applied);
  }

  released() {
    this.stream.dropped();
  }

  receive(frame) {
    if (frame.type === "stream.ready") {
      this.welcomed();
      this.stream.ready(frame.seq);
    } else if (frame.type === "pong") {
      this.stream.heard(frame.seq);
    } else if (typeof frame.seq === "number") {
      this.stream.sequence(frame);
    } else {
      this.onFrame(frame);
    }
  }
}

// One socket per tab, `/ws/?after=<personal seq>`, carrying many streams, each
// tagged with its name ("stream": "chat:lobby"). The server joins the personal
// stream on connect; every other stream is joined with `stream.join`, again on
// each reconnect, from the last seq applied, so a reconnect resumes them all.
export class MultiplexSocket extends Connection {
  // personal: { seq, onEvent, onFrame } for the personal stream; onFrame(frame):
  // frames about no stream (errors of the socket itself); onState: as Connection's.
  constructor({ path = "/ws/", personal, onFrame, onState }) {
    super({ onState });
    this.path = path;
    this.onFrame = onFrame;
    this.streams = new Map();
    this.add(PERSONAL, personal);
  }

  // Follow a stream: onEvent(frame) gets its events once each, in seq order;
  // onFrame(frame) the rest of its frames (presence, typing, its errors);
  // onReady() each time it has been replayed up to its head; onLeft(reason)
  // when the server drops it. seq: the seq the page has it at (null: from now).
  join(name, { seq = null, onEvent, onFrame, onReady = () => {}, onLeft = () => {} }) {
    if (this.streams.has(name)) return this.streams.get(name);
    const subscription = this.add(name, { seq, onEvent, onFrame, onReady, onLeft });
    if (this.ws?.readyState === WebSocket.OPEN) this.ask(subscription);
    return subscription;
  }

  leave(name) {
    if (name === PERSONAL || !this.streams.delete(name)) return;
    this.write({ type: "stream.leave", stream: name });
  }

  has(name) {
    return this.streams.has(name);
  }

  // Whether a stream is joined and replayed up to its head on the current socket.
  isReady(name) {
    return this.isLive && Boolean(this.streams.get(name)?.ready);
  }

  // Send one of a stream's commands if that stream is ready; returns whether it was sent.
  send(name, frame) {
    return this.isReady(name) && this.write({ ...frame, stream: name });
  }

  add(name, handlers) {
    const subscription = {
      name,
      ready: false,
      onReady: () => {},
      onLeft: () => {},
      ...handlers,
      sequence: new StreamSequence({
        seq: handlers.seq,
        onEvent: (frame) => subscription.onEvent(frame),
        askSync: (after) => this.write({ type: "stream.sync", stream: name, after }),
      }),
    };
    this.streams.set(name, subscription);
    return subscription;
  }

  // region: multiplex-rejoin
  ask(subscription) {
    const after = subscription.sequence.applied;
    const frame = { type: "stream.join", stream: subscription.name };
    this.write(after === null ? frame : { ...frame, after });
  }

  url() {
    return this.address(this.path, this.streams.get(PERSONAL).sequence.applied);
  }

  // Every stream but the personal one is asked for in one go: the server
  // resolves joins that arrive together in a few queries.
  opened() {
    for (const subscription of this.streams.values()) {
      if (subscription.name !== PERSONAL) this.ask(subscription);
    }
  }
  // endregion

  released() {
    for (const subscription of this.streams.values()) {
      subscription.ready = false;
      subscription.sequence.dropped();
    }
  }

  forget(subscription, reason) {
    this.streams.delete(subscription.name);
    subscription.onLeft(reason);
  }

  // An error about a stream not (yet) ready on this socket, answering no
  // command, is the server refusing its join: it will not be asked again.
  refused(subscription, frame) {
    return frame.type === "error" && !subscription.ready && !frame.client_id
      && (frame.code === "not_allowed" || frame.code === "not_found");
  }

  receive(frame) {
    if (frame.type === "pong") {
      for (const [name, head] of Object.entries(frame.heads ?? {})) {
        this.streams.get(name)?.sequence.heard(head);
      }
      return;
    }
    const subscription = this.streams.get(frame.stream);
    if (!subscription) {
      if (frame.stream === undefined) this.onFrame(frame);
      return;
    }
    if (frame.type === "stream.ready") {
      if (subscription.name === PERSONAL) this.welcomed();
      subscription.ready = true;
      subscription.sequence.ready(frame.seq);
      subscription.onReady();
    } else if (frame.type === "stream.left") {
      // Without a reason it answers a stream.leave: the stream was forgotten
      // then, and a subscription by that name now is a join made since.
      if (frame.reason) this.forget(subscription, frame.reason);
    } else if (this.refused(subscription, frame)) {
      this.forget(subscription, frame.code);
    } else if (typeof frame.seq === "number") {
      subscription.sequence.sequence(frame);
    } else {
      subscription.onFrame(frame);
    }
  }
}
