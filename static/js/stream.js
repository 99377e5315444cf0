// The socket client every stream page uses (chat rooms, liveblogs).
//
// The page was rendered at some seq; the socket asks for everything after the
// last seq this client applied, applies each seq exactly once and in order,
// asks again when it sees a gap, and reconnects with backoff and jitter.

const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;

export class StreamSocket {
  // path: "/ws/chat/lobby/"; seq: the seq the page was rendered at;
  // onEvent(frame): each stream event, once, in seq order;
  // onFrame(frame): everything else (presence, typing, errors);
  // onState(state): "connecting" | "live" | "reconnecting".
  constructor({ path, seq, onEvent, onFrame, onState }) {
    this.path = path;
    this.applied = seq;
    this.onEvent = onEvent;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ahead = new Map();
    this.ws = null;
    this.state = null;
    this.attempt = 0;
    this.syncing = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
  }

  start() {
    this.connect();
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.checkSilence();
    });
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
    this.retryTimer = null;
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
    ws.addEventListener("close", () => {
      if (ws !== this.ws) return;
      this.dropped();
    });
  }

  dropped() {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
    window.clearInterval(this.pingTimer);
    this.syncing = false;
    if (this.state !== "reconnecting") this.setState("reconnecting");
    if (this.retryTimer === null) {
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
      this.attempt += 1;
      // Full jitter: after a server restart, clients do not all come back at once.
      const delay = ceiling / 2 + Math.random() * (ceiling / 2);
      this.retryTimer = window.setTimeout(() => this.connect(), delay);
    }
  }

  reconnectNow() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN && this.isLive) return;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
    window.clearInterval(this.pingTimer);
    this.connect();
  }

  receive(frame) {
    if (frame.type === "stream.ready") {
      this.syncing = false;
      this.attempt = 0;
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

// A client-generated id for idempotent retries (crypto.randomUUID needs a secure context).
export function clientId() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
