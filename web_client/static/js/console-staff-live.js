// The console's live feed: socket.io namespace "/staff", one room per facility. The server
// pushes `review.held` {item}, `review.decided` {id, status, by}, `appeal.new` {id, message_id}
// and `appeal.decided` {id, decision}. These are wake-ups, not a durable stream: after every
// (re)connection the pages reload what they show, and while the feed is down they refresh on
// a timer instead (`onState` says which).
//
// It shares the page's connection to the server with live.js (socket.io multiplexes
// namespaces), and like live.js it steps aside when the server says it is restarting.

const EVENTS = ["review.held", "review.decided", "appeal.new", "appeal.decided"];
const RETRY_MS = 30000; // after the server refused the namespace

/**
 * `onEvent(name, data)` for each push; `onState(state)` with "connecting", "live" (call it a
 * reconnection too: reload), "offline" (a network problem; socket.io retries) or
 * "unavailable" (the server refused or has no such feed; we try again now and then).
 */
export function connectStaff({ onEvent = () => {}, onState = () => {} } = {}) {
  let socket = null;
  let closed = false;
  let retry = null;

  const state = (name) => {
    if (!closed) onState(name);
  };

  function again(ms) {
    clearTimeout(retry);
    retry = setTimeout(() => {
      if (!closed && socket && !socket.connected) socket.connect();
    }, ms);
  }

  state("connecting");
  import("/vendor/socket.io.esm.min.js")
    .then(({ io }) => {
      if (closed) return;
      socket = io("/staff", { transports: ["websocket"], withCredentials: true });
      socket.on("connect", () => state("live"));
      socket.on("connect_error", () => {
        // `active` false: the server itself said no (not signed in, no such namespace);
        // socket.io will not retry that on its own.
        if (socket.active) state("offline");
        else {
          state("unavailable");
          again(RETRY_MS);
        }
      });
      socket.on("disconnect", (reason) => {
        state("offline");
        if (reason === "io server disconnect") again(1000);
      });
      socket.on("server_shutdown", (data) => {
        state("offline");
        socket.disconnect();
        again(Math.min(Number(data?.reconnect_after_ms) || 1000, 10000));
      });
      for (const name of EVENTS) {
        socket.on(name, (data) => {
          try {
            onEvent(name, data || {});
          } catch (error) {
            console.error(error);
          }
        });
      }
    })
    .catch(() => state("unavailable"));

  return {
    get connected() {
      return Boolean(socket?.connected);
    },
    close() {
      closed = true;
      clearTimeout(retry);
      if (socket) socket.disconnect();
    },
  };
}
