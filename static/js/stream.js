// The socket client every stream page uses (chat rooms, liveblogs).
//
// The page was rendered at some seq; the socket asks for everything after the
// last seq this client applied, applies each seq exactly once and in order,
// asks again when it sees a gap, and reconnects with backoff and jitter.

// region: client-keepalive
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000;
// endregion
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;

// Close codes after which reconnecting would not help (streams/consumers.py):
// the session ended, or the user's rights changed and the page must be loaded
// again to be authorised anew. The socket stops and the page says why.
const ENDED = { 4401: "signed-out", 4403: "access-changed" };

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

export class StreamSocket {
  // path: "/ws/chat/lobby/"; seq: the seq the page was rendered at;
  // onEvent(frame): each stream event, once, in seq order;
  // onFrame(frame): everything else (presence, typing, errors);
  // onState(state): "connecting" | "live" | "reconnecting", or, for good,
  // "signed-out" | "access-changed".
  constructor({ path, seq, onEvent, onFrame, onState }) {
    this.path = path;
    this.applied = seq;
    this.onEvent = onEvent;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ahead = new Map();
    this.ws = null;
    this.state = null;
    this.syncing = false;
    this.backoff = new Backoff();
    this.pingTimer = null;
    this.lastHeard = 0;
    // Kept so that stop() can remove exactly what start() added.
    this.onOnline = () => this.reconnectNow();
    this.onVisibility = () => {
      if (document.visibilityState === "visible") this.checkSilence();
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

  // Send a frame if the socket is live; returns whether it was sent.
  send(frame) {
    if (!this.isLive || !this.ws) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${this.path}?after=${this.applied}`;
  }

  connect() {
    this.setState(this.state === null ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.heard();
      this.pingTimer = window.setInterval(() => this.ping(), PING_EVERY_MS);
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this.heard();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.receive(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      if (event.code in ENDED) this.ended(ENDED[event.code]);
      else this.dropped();
    });
  }

  // Let go of the current socket: its late events are ignored (they are not
  // from this.ws), its pings stop, and a sync asked on it is no longer awaited.
  teardown() {
    window.clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.syncing = false;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

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

  receive(frame) {
    if (frame.type === "stream.ready") {
      this.syncing = false;
      this.backoff.reset();
      this.setState("live");
      if (frame.seq > this.applied) this.sync();
    } else if (frame.type === "pong") {
      if (frame.seq > this.applied && !this.syncing) this.sync();
    } else if (typeof frame.seq === "number") {
      this.sequence(frame);
    } else {
      this.onFrame(frame);
    }
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
    this.ws?.send(JSON.stringify({ type: "stream.sync", after: this.applied }));
  }

  ping() {
    this.checkSilence();
    this.ws?.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify({ type: "ping" }));
  }

  heard() {
    this.lastHeard = Date.now();
  }

  // A socket can die without a close event (sleeping laptop, dead proxy).
  checkSilence() {
    if (this.ws && Date.now() - this.lastHeard > SILENCE_LIMIT_MS) this.dropped();
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }
}
