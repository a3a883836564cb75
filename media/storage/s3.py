"""Blobs in an S3-compatible bucket, for installations on several machines: the same
`BlobStore` contract as the local disk, through aiobotocore.

- **Keys** are checked by `check_key` (the local store's rules) and stored as
  `S3_PREFIX/<key>`; no sharding, since the object store has no folders to fill.
- **A put is one PUT**, all or nothing on the store's side, with its `Content-Type` (from the
  key's suffix) and a `Content-MD5` that the store checks before it keeps the object: a body
  damaged on the way is refused, never stored. One PUT holds up to 5 GiB; photos are far below.
- **A get or stream** reads the body of one GET; `stream` hands it on in chunks of exactly
  `chunk_bytes` (the last one shorter), so a recording is never all in memory.
- **delete** is idempotent: a HEAD says whether there was a blob, then a DELETE removes it (two
  deletes racing may both answer True; nothing depends on that answer but a log).
- **Failures**: a missing object is `BlobNotFound`; anything that keeps the store from
  answering (no connection, a timeout after the bounded retries, a 5xx, a missing bucket,
  refused credentials) is `BlobStoreUnavailable`, whose message names the cause for the operator.
  A HEAD's 404 has no body, so it cannot tell a missing key from a missing bucket: the first
  such 404 checks the bucket once (`check`), and after that the bucket is taken as known.

The client is made by `start()` and released by `close()`; its timeouts and attempts come from
the settings (`S3_CONNECT_TIMEOUT`, `S3_READ_TIMEOUT`, `S3_MAX_ATTEMPTS`) so that an
unreachable store is a quick 503, never a hung request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import mimetypes
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.response import StreamingBody
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.handlers import add_expect_header

from media.storage.blobs import (
    CHUNK_BYTES,
    BlobNotFound,
    BlobStoreUnavailable,
    InvalidBlobKey,
    check_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

# Explicit for the types we store, so that what a client is told does not depend on the
# machine's /etc/mime.types; anything else falls back to Python's table.
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".opus": "audio/ogg",
    ".json": "application/json",
}
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)


def content_type_of(key: str) -> str:
    name = key.rsplit("/", 1)[-1].lower()
    suffix = name[name.rfind(".") :] if "." in name else ""
    return (
        CONTENT_TYPES.get(suffix)
        or mimetypes.guess_type(name, strict=True)[0]
        or "application/octet-stream"
    )


class S3BlobStore:
    """Blobs as objects `prefix/key` in `bucket` at `endpoint_url` (None: AWS itself).

    With no access key the AWS default credential chain applies (environment, instance role).
    An endpoint of our own (MinIO, Garage, Ceph, ...) is addressed path-style
    (`ENDPOINT/bucket/key`), which every S3-compatible server understands without DNS set-up.
    Stores given one `session` share its loaded service description (a new one by default).
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        session: AioSession | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("the S3 blob store needs a bucket (S3_BUCKET)")
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither")
        if connect_timeout <= 0 or read_timeout <= 0 or max_attempts < 1:
            raise ValueError("S3 timeouts must be positive and attempts at least 1")
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except InvalidBlobKey:
                raise ValueError(f"not a valid S3_PREFIX: {prefix!r}") from None
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.prefix = prefix
        self._credentials = (access_key_id, secret_access_key)
        self._session = session
        self._config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            # We send Content-MD5 ourselves. botocore's default (a CRC32 trailer on every
            # upload, "aws-chunked") is refused by several S3-compatible servers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._exits: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None
        self._bucket_known = False

    @property
    def where(self) -> str:
        """The bucket and endpoint, for messages to the operator."""
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}"

    def object_key(self, key: str) -> str:
        """The object's name in the bucket for the blob key `key` (checked)."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def start(self) -> None:
        """Make the client. It does not contact the store: a store that is down at start-up
        makes each blob request a 503 until it is back, not a server that will not start."""
        if self._client is not None:
            return
        exits = contextlib.AsyncExitStack()
        access_key_id, secret_access_key = self._credentials
        self._client = await exits.enter_async_context(
            (self._session or get_session()).create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=self._config,
            )
        )
        # botocore sends a PUT's body only after the server's "100 Continue"; aiohttp waits for
        # that answer with no timeout at all, so a store that accepts and never answers would
        # hang every upload (found by the test of a silent server). A whole PUT at once is
        # what we want anyway: photos are small and a refused upload costs one body.
        self._client.meta.events.unregister("before-call.s3", add_expect_header)
        self._exits = exits

    async def close(self) -> None:
        exits, self._exits, self._client = self._exits, None, None
        if exits is not None:
            await exits.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3BlobStore.start() was not awaited")
        return self._client

    async def check(self) -> None:
        """That the bucket exists and our credentials may use it; otherwise
        `BlobStoreUnavailable` saying which."""
        with self._unavailable_on_failure("HEAD bucket"):
            try:
                await self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                if _status(error) == 404 or _code(error) in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                    raise BlobStoreUnavailable(f"the {self.where} does not exist") from None
                raise
        self._bucket_known = True

    async def put(self, key: str, data: bytes) -> None:
        name = self.object_key(key)
        data = bytes(data)
        # MD5 here is the transfer check S3 defines (Content-MD5), not a security measure.
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        with self._unavailable_on_failure("PUT", key):
            await self.client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=data,
                ContentLength=len(data),
                ContentType=content_type_of(key),
                ContentMD5=base64.b64encode(digest).decode("ascii"),
            )
        self._bucket_known = True

    async def get(self, key: str) -> bytes:
        body = await self._open(key)
        with self._unavailable_on_failure("GET", key):
            async with body:
                data: bytes = await body.read()
        return data

    async def _open(self, key: str) -> StreamingBody:
        """The blob's body, not yet read: `BlobNotFound` or `BlobStoreUnavailable` otherwise."""
        with self._unavailable_on_failure("GET", key):
            try:
                answer = await self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
            except ClientError as error:
                self._raise_not_found_or_reraise(error, key)
        self._bucket_known = True
        return answer["Body"]

    async def stream(self, key: str, *, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        body = await self._open(key)
        try:
            buffer = bytearray()
            while True:
                with self._unavailable_on_failure("GET (body)", key):
                    piece: bytes = await body.read(chunk_bytes - len(buffer))
                if not piece:
                    break
                buffer += piece
                if len(buffer) == chunk_bytes:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
        finally:
            # Also when the reader stops early: the connection goes back or is dropped.
            body.close()

    async def exists(self, key: str) -> bool:
        name = self.object_key(key)
        with self._unavailable_on_failure("HEAD", key):
            try:
                await self.client.head_object(Bucket=self.bucket, Key=name)
            except ClientError as error:
                if _status(error) != 404:
                    raise
                if not self._bucket_known:
                    await self.check()
                return False
        self._bucket_known = True
        return True

    async def delete(self, key: str) -> bool:
        if not await self.exists(key):
            return False
        with self._unavailable_on_failure("DELETE", key):
            await self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        return True

    def _raise_not_found_or_reraise(self, error: ClientError, key: str) -> NoReturn:
        if _code(error) in _NOT_FOUND_CODES:
            raise BlobNotFound(key) from None
        raise error

    @contextlib.contextmanager
    def _unavailable_on_failure(self, what: str, key: str = "") -> Iterator[None]:
        """Turn the client's failures into `BlobStoreUnavailable`, with a message for the
        operator; `BlobNotFound` and our own errors pass through."""
        doing = f"{what} {key!r}" if key else what
        try:
            yield
        except ClientError as error:
            code = _code(error)
            if code == "NoSuchBucket":
                raise BlobStoreUnavailable(f"the {self.where} does not exist") from error
            if code in _REFUSED_CODES or _status(error) == 403:
                raise BlobStoreUnavailable(
                    f"the {self.where} refused our credentials for {doing} ({code}): "
                    "check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY and the bucket's policy"
                ) from error
            raise BlobStoreUnavailable(
                f"the {self.where} answered {code} (HTTP {_status(error)}) to {doing}"
            ) from error
        except (BotoCoreError, aiohttp.ClientError, TimeoutError) as error:
            raise BlobStoreUnavailable(
                f"the {self.where} could not be reached for {doing}: {error}"
            ) from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int | None:
    metadata: dict[str, Any] = dict(error.response.get("ResponseMetadata", {}))
    status = metadata.get("HTTPStatusCode")
    return int(status) if status is not None else None
