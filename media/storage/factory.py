"""The blob store an installation's settings ask for (`BLOB_STORE`, `S3_*`; see the README)."""

from __future__ import annotations

from media.storage.blobs import BlobStore, LocalBlobStore
from media.storage.s3 import S3BlobStore
from server.config import Config

BLOB_STORES = ("local", "s3")


def blob_store_from(config: Config) -> BlobStore:
    """`LocalBlobStore` under `var/blobs`, or `S3BlobStore` with the `S3_*` settings; a
    `ValueError` naming the setting when they do not make a store. Not started yet: the
    caller awaits `start()` and `close()` (in the app's `cleanup_ctx`)."""
    if config.blob_store == "local":
        return LocalBlobStore(config.blob_dir)
    if config.blob_store == "s3":
        if not config.s3_bucket:
            raise ValueError("BLOB_STORE=s3 needs S3_BUCKET")
        return S3BlobStore(
            bucket=config.s3_bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.s3_region,
            access_key_id=config.s3_access_key_id,
            secret_access_key=config.s3_secret_access_key,
            prefix=config.s3_prefix,
            connect_timeout=config.s3_connect_timeout,
            read_timeout=config.s3_read_timeout,
            max_attempts=config.s3_max_attempts,
        )
    raise ValueError(f"BLOB_STORE must be one of {', '.join(BLOB_STORES)}: {config.blob_store!r}")
