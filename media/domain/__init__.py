"""Pure rules of the media wing: photo limits and sizing (no I/O, no clock)."""
