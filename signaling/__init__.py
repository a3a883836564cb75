"""Video visits: booking, the socket.io `/visits` namespace, TURN credentials, metering.

So far: the pure rules, the `/visits` signaling payloads (`domain/signals.py`) and visit
blocks: prices, billed minutes and free slots (`domain/blocks.py`); booking and the namespace
arrive with the visit issue. See DESIGN.md §2.
"""
