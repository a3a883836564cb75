"""Pure rules of video visits: signaling payloads and block arithmetic (no I/O, no clock)."""
