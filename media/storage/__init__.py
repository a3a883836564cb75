"""Storage of the media wing: its tables (`models.py`: photos) and the blob store (local disk;
S3 behind the same protocol)."""

from media.storage import models as models
