"""Use cases and workers of the media wing: the photo pipeline (decode, rebuild from pixels,
re-encode, in worker processes). The photo routes and their use cases come with the photo issue."""
