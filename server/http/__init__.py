"""Transports: HTTP routes. Each parses input, authenticates, makes one service call and
serialises the result."""
