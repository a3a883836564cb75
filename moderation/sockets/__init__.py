"""socket.io namespaces of the moderation wing: `/staff`, the console's live feed."""
