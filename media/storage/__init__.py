"""Storage of the media wing: the blob store (local disk; S3 behind the same protocol)."""
