"""socket.io transports: one `SessionNamespace` class per namespace (`/` in `main.py`,
`/staff` in `staff.py`), the shared rules of a signed-in connection (`base.py`), and this
process's register of sockets by session that disconnects them when their session ends
(`liveness.py`)."""
