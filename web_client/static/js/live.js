// The real-time connection, shared by the three apps: a small indicator in the header, a
// callback when the server pushes an event or when a connection comes back (so lists can be
// refreshed), and the server's "restarting" notice on graceful shutdown.
//
// socket.io is imported lazily: if it cannot load, the apps still work without live updates.

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  offline: "Offline, retrying…",
  restarting: "Server restarting, reconnecting…",
};

export function connectLive(indicator, { onEvent = () => {}, onReconnect = () => {} } = {}) {
  let socket = null;
  let closed = false;
  let restarting = false;
  let everConnected = false;

  const show = (state) => {
    if (!indicator) return;
    indicator.hidden = false;
    indicator.dataset.state = state;
    indicator.textContent = LABELS[state];
  };

  show("connecting");
  import("/vendor/socket.io.esm.min.js")
    .then(({ io }) => {
      if (closed) return;
      socket = io({ transports: ["websocket"], withCredentials: true });
      socket.on("connect", () => {
        show("live");
        if (everConnected || restarting) onReconnect();
        everConnected = true;
        restarting = false;
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
      socket.on("disconnect", (reason) => {
        if (closed) return;
        show(restarting ? "restarting" : "offline");
        if (reason === "io server disconnect") {
          setTimeout(() => {
            if (!closed && !socket.connected) socket.connect();
          }, 1000);
        }
      });
      socket.on("event", (event) => onEvent(event));
    })
    .catch(() => {
      if (indicator) indicator.hidden = true;
    });

  return {
    close() {
      closed = true;
      if (socket) socket.disconnect();
      if (indicator) indicator.hidden = true;
    },
  };
}
