"""Pure logic: no I/O and no clock reads (time is passed in)."""
