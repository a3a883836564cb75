"""The blob stores under test: an S3-compatible server on loopback and what a store holds.

The S3 server is moto's `ThreadedMotoServer` (pip `moto[server]`, in the `test` extras): it
speaks the S3 REST API over real HTTP on 127.0.0.1, on a free port, in a thread of the test
process, so aiobotocore goes through its whole stack (signing, Content-MD5, retries, errors as
S3 sends them). Why not MinIO or Garage, which are real servers: neither is packaged by Debian
(`apt-cache policy minio garage` finds nothing), and a binary fetched from elsewhere would make
a fresh clone depend on a download that `make` does not do; moto installs with the other test
dependencies and starts in well under a second. What moto cannot show (a real server's
durability) is the object store's own promise, not ours.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiobotocore.session import AioSession, get_session

from media.storage.blobs import BlobStore, LocalBlobStore
from media.storage.s3 import S3BlobStore
from tests.story.stage import REQUIRE_SERVICES

try:
    from moto.server import ThreadedMotoServer
except ImportError as exc:  # a laptop without the test extras' moto[server]
    MOTO_MISSING: str | None = f"moto[server] is not installed ({exc})"
else:
    MOTO_MISSING = None

# moto accepts any credentials; real ones never appear in tests.
S3_TEST_KEYS = {"access_key_id": "homeline-test", "secret_access_key": "homeline-test-secret"}


def need_moto() -> None:
    """Nothing, or a skip (a failure in CI, where REQUIRE_SERVICES=1)."""
    if MOTO_MISSING is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"the S3 test server is required in CI (REQUIRE_SERVICES=1): {MOTO_MISSING}")
    pytest.skip(MOTO_MISSING)


@dataclass
class S3Server:
    """A running S3-compatible server on loopback."""

    endpoint_url: str
    # One for the run: loading botocore's S3 description per client costs ~0.2 s.
    session: AioSession = field(default_factory=get_session)

    def store(self, bucket: str, **settings: Any) -> S3BlobStore:
        """A store (not started) on `bucket` of this server, with test credentials."""
        return S3BlobStore(
            bucket=bucket,
            endpoint_url=self.endpoint_url,
            session=self.session,
            **{**S3_TEST_KEYS, **settings},
        )

    async def new_bucket(self) -> str:
        """A bucket of its own for one test, so that tests never see each other's blobs."""
        bucket = f"homeline-{secrets.token_hex(6)}"
        async with self._client() as client:
            await client.create_bucket(Bucket=bucket)
        return bucket

    async def object_keys(self, bucket: str) -> list[str]:
        async with self._client() as client:
            listed = await client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    async def head(self, bucket: str, key: str) -> dict[str, Any]:
        async with self._client() as client:
            return dict(await client.head_object(Bucket=bucket, Key=key))

    def _client(self) -> Any:
        return self.session.create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=S3_TEST_KEYS["access_key_id"],
            aws_secret_access_key=S3_TEST_KEYS["secret_access_key"],
        )


@contextlib.contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 and a free port, for the block; a skip without moto."""
    need_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """The URL of a port that accepts connections (the kernel's backlog) but never answers:
    a store that hangs, for the timeouts."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host, port = listener.getsockname()[:2]
        yield f"http://{host}:{port}"


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on: a store that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()[:2]
    return f"http://{host}:{port}"


async def stored_names(store: BlobStore) -> list[str]:
    """The names (last key segments) of every blob the store holds, sorted: files under a
    local store's root, objects under an S3 store's prefix."""
    if isinstance(store, LocalBlobStore):
        return sorted(p.name for p in store.root.rglob("*") if p.is_file())
    if isinstance(store, S3BlobStore):
        listed = await store.client.list_objects_v2(
            Bucket=store.bucket, Prefix=f"{store.prefix}/" if store.prefix else ""
        )
        return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))
    raise TypeError(f"no listing for {type(store).__name__}")
