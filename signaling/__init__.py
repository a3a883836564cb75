"""Video visits: booking, the socket.io `/visits` namespace, TURN credentials, metering.

Nothing here yet: visits arrive with their own issue. See DESIGN.md §2.
"""
