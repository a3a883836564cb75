// The real-time connection, shared by the three apps: a small indicator in the header, the
// person's event stream in order and without gaps, and the server's "restarting" notice on
// graceful shutdown.
//
// The stream: every event carries the person's next `seq`. We remember the last one applied;
// an event at or below it is a repeat and is dropped, one above the next expected means we
// missed some, and a `sync {since}` fetches them (as it does after every reconnect). Each
// applied event is acknowledged (`ack {seq}`), batched. The starting point is the stream's
// newest seq read over HTTP before the pages load their data (`ready`), so nothing that
// happens between a page's first load and the socket's first connection is missed.
//
// When the session ends (signed out here or elsewhere, password changed, ended by customer
// care, timed out), the server says why (`session_ended`) and closes the socket: we stop
// reconnecting and hand the reason, in words, to `onSessionEnded` (each app shows its sign-in
// page with it; by default the page reloads).
//
// socket.io is imported lazily: if it cannot load, the apps still work without live updates.

import { get } from "./api.js";

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Offline, reconnecting…",
  restarting: "Server restarting, reconnecting…",
  ended: "Signed out",
};
// Why the server ended the session (`session_ended {reason}`), in the user's words.
const ENDED = {
  signed_out: "You signed out on this device.",
  password_reset: "Your password was changed, so every device was signed out.",
  ended_by_staff: "Customer care signed your account out of every device.",
  expired: "Your session ended. Please sign in again.",
};
const ACK_DELAY_MS = 250;
const SEND_TIMEOUT_MS = 10000;

export class LiveError extends Error {
  /** `unanswered`: the request may or may not have reached the server. */
  constructor(code, message, unanswered) {
    super(message);
    this.name = "LiveError";
    this.code = code;
    this.unanswered = unanswered;
  }
}

export function connectLive(
  indicator,
  {
    onEvent = () => {},
    onReconnect = () => {},
    onSync = () => {},
    onSessionEnded = () => location.reload(),
  } = {},
) {
  let socket = null;
  let closed = false;
  let restarting = false;
  let everConnected = false;
  let lastSeq = null; // the newest seq applied; null until known
  let syncing = null; // the running sync, if any
  let queued = []; // events pushed while a sync runs
  let ackTimer = null;
  let acked = 0;

  const show = (state) => {
    if (!indicator) return;
    indicator.hidden = false;
    indicator.dataset.state = state;
    indicator.textContent = LABELS[state];
  };

  const ready = get("/api/v1/events", { since: 0, limit: 1 })
    .then((page) => {
      if (lastSeq === null) lastSeq = Number(page.last_seq) || 0;
    })
    .catch(() => {
      // Unknown for now: the first sync over the socket sets it (and views reload on it).
    });

  function scheduleAck() {
    if (ackTimer || !socket) return;
    ackTimer = setTimeout(() => {
      ackTimer = null;
      if (socket?.connected && lastSeq > acked) {
        acked = lastSeq;
        socket.emit("ack", { seq: lastSeq });
      }
    }, ACK_DELAY_MS);
  }

  function apply(event) {
    const seq = Number(event?.seq);
    if (!Number.isInteger(seq) || (lastSeq !== null && seq <= lastSeq)) return; // a repeat
    lastSeq = seq;
    try {
      onEvent(event);
    } catch (error) {
      console.error(error);
    }
    scheduleAck();
  }

  function pushed(event) {
    const seq = Number(event?.seq);
    if (syncing) {
      queued.push(event);
    } else if (lastSeq !== null && seq > lastSeq + 1) {
      queued.push(event); // a gap: fetch what is missing first, then this one
      sync();
    } else {
      apply(event);
    }
  }

  /** Everything after lastSeq, in order, page by page; then what was pushed meanwhile.
   *  Resolves true when caught up, false when the connection failed (the next connect
   *  syncs again from the same place). */
  function sync() {
    if (syncing) return syncing;
    syncing = (async () => {
      await ready;
      for (let round = 0; round < 100; round += 1) {
        if (!socket?.connected) return false;
        // No known starting point (the HTTP read failed): start from now; views reload onSync.
        const since = lastSeq === null ? Number.MAX_SAFE_INTEGER : lastSeq;
        let answer;
        try {
          answer = await socket.timeout(SEND_TIMEOUT_MS).emitWithAck("sync", { since });
        } catch {
          return false;
        }
        if (!answer || answer.error) return false;
        if (lastSeq === null) lastSeq = Number(answer.last_seq) || 0;
        for (const event of answer.events || []) apply(event);
        if (!answer.events?.length || lastSeq >= Number(answer.last_seq)) return true;
      }
      return true;
    })();
    return syncing.then((caughtUp) => {
      syncing = null;
      const waiting = queued.sort((a, b) => a.seq - b.seq);
      queued = [];
      // After a failed sync these come back with the next one; applying them now would
      // step over the events that are still missing.
      if (caughtUp) for (const event of waiting) pushed(event);
      return caughtUp;
    });
  }

  show("connecting");
  import("/vendor/socket.io.esm.min.js")
    .then(({ io }) => {
      if (closed) return;
      socket = io({ transports: ["websocket"], withCredentials: true });
      socket.on("connect", async () => {
        show("live");
        const again = everConnected || restarting;
        everConnected = true;
        restarting = false;
        const synced = await sync();
        if (synced !== false) {
          try {
            onSync({ reconnected: again });
          } catch (error) {
            console.error(error);
          }
        }
        if (again) onReconnect();
      });
      socket.on("connect_error", () => show(restarting ? "restarting" : "offline"));
      socket.on("server_shutdown", (data) => {
        restarting = true;
        show("restarting");
        const wait = Math.min(Number(data?.reconnect_after_ms) || 1000, 10000);
        // Close our end now: the browser's engine.io client ignores the server's close packet,
        // and an open websocket would hold the old process until the ping timeout. Then come
        // back (to whichever process answers) after the suggested pause; socket.io retries
        // with backoff from there.
        socket.disconnect();
        setTimeout(() => {
          if (!closed && !socket.connected) socket.connect();
        }, wait);
      });
      socket.on("session_ended", (data) => {
        closed = true;
        clearTimeout(ackTimer);
        show("ended");
        socket.disconnect();
        onSessionEnded(ENDED[data?.reason] || ENDED.expired);
      });
      socket.on("disconnect", (reason) => {
        if (closed) return;
        show(restarting ? "restarting" : "offline");
        if (reason === "io server disconnect") {
          setTimeout(() => {
            if (!closed && !socket.connected) socket.connect();
          }, 1000);
        }
      });
      socket.on("event", pushed);
    })
    .catch(() => {
      if (indicator) indicator.hidden = true;
    });

  return {
    /** Resolves once the stream's starting point is known (or could not be read). */
    ready,
    get connected() {
      return Boolean(socket?.connected);
    },
    /**
     * Emit `name` with `data` and wait for the server's answer. Rejects with a LiveError:
     * `unanswered` when the outcome is unknown (no connection, no answer in time), so the
     * caller may retry with the same idempotency key; an `{error}` answer rejects with its code.
     */
    async request(name, data, timeoutMs = SEND_TIMEOUT_MS) {
      if (!socket?.connected) {
        throw new LiveError("offline", "Not connected to the server.", true);
      }
      let answer;
      try {
        answer = await socket.timeout(timeoutMs).emitWithAck(name, data);
      } catch {
        throw new LiveError("timeout", "The server did not answer in time.", true);
      }
      if (answer && answer.error) {
        const error = new LiveError(
          answer.error.code || "error",
          answer.error.message || "Refused.",
          false,
        );
        error.fields = answer.error.fields || {};
        throw error;
      }
      return answer;
    },
    close() {
      closed = true;
      clearTimeout(ackTimer);
      if (socket) socket.disconnect();
      if (indicator) indicator.hidden = true;
    },
  };
}
