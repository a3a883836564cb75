"""Sign-up, resend and reset take the same time for a known e-mail address as for an unknown one:
the work that depends on the address runs after the answer. Each test times 40 answers for each
kind of address (80 for sign-up, whose password hash makes the times noisier), interleaved, and
compares the two samples by rank (Mann-Whitney): an honest difference of a few percent on a busy
machine passes, a difference like the one found before (a median of 4.3 ms for a known address
against 2.6 ms, no overlap) fails by far."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.config import Config
from server.services.context import Services
from server.services.ratelimit import MAIL_PER_EMAIL
from tests.fakes import FrozenClock, RecordingMailer
from tests.story import sign_up_and_activate, signup_body

TRIES = 40
SIGN_UP_TRIES = 80
# |z| of the rank-sum test. Two samples of one distribution pass 99.99% of the time; samples
# that do not overlap at all give |z| = 7.7.
MAX_Z = 4.0


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    """Behind the trusted proxy, so that each try comes from an address of its own and the
    per-address limits never answer instead of the code being timed."""
    return Config(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        public_url="http://127.0.0.1:8080",
        trust_proxy=True,
    )


def rank_sum_z(a: list[float], b: list[float]) -> float:
    """Mann-Whitney's U for `a` against `b`, as a z-score (normal approximation, ties ranked
    by their mean rank). Near 0 when neither sample tends to be the larger."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks = [0.0] * len(pooled)
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    n1, n2 = len(a), len(b)
    u = (
        sum(r for r, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
        - n1 * (n1 + 1) / 2
    )
    return (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)


def test_rank_sum_z_tells_apart_samples_that_do_not_overlap() -> None:
    known = [4.2 + i / 100 for i in range(TRIES)]
    unknown = [2.6 + i / 100 for i in range(TRIES)]
    assert rank_sum_z(known, unknown) > 7
    assert abs(rank_sum_z(known, known)) < 0.01


Request = Callable[[str, int], Awaitable[int]]


async def timed_pairs(
    services: Services, clock: FrozenClock, *, known: Request, unknown: Request, tries: int = TRIES
) -> tuple[list[float], list[float]]:
    """Time `tries` answers of each kind, alternating which goes first. Between tries the queued
    work is finished (not timed) and the clock moves on a mail window, so neither a job left
    over from the try before nor a rate limit lands in a measurement."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(tries):
        order = [("known", known), ("unknown", unknown)]
        for kind, request in order if n % 2 == 0 else reversed(order):
            await services.mail.join()
            started = time.perf_counter()
            status = await request(f"198.51.100.{n}", n)
            times[kind].append((time.perf_counter() - started) * 1000)
            assert status == 202
        clock.advance(seconds=MAIL_PER_EMAIL.window)
    await services.mail.join()
    return times["known"], times["unknown"]


def assert_same_time(known: list[float], unknown: list[float]) -> None:
    z = rank_sum_z(known, unknown)
    medians = (
        f"median {statistics.median(known):.2f} ms known, "
        f"{statistics.median(unknown):.2f} ms unknown, z = {z:.1f}"
    )
    print(medians)
    assert abs(z) < MAX_Z, medians


def poster(
    client: TestClient[Any, Any], path: str, body: Callable[[int], dict[str, Any]]
) -> Request:
    async def request(address: str, n: int) -> int:
        resp = await client.post(path, json=body(n), headers={"X-Forwarded-For": address})
        await resp.read()
        return resp.status

    return request


@pytest.mark.parametrize("path", ["/api/v1/accounts/activation/resend", "/api/v1/password-resets"])
async def test_mail_requests_take_the_same_time_for_known_and_unknown_addresses(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
    path: str,
) -> None:
    if path.endswith("resend"):
        # A pending account: resend mails it a new code each time.
        assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    else:
        await sign_up_and_activate(app_client, mailer, services)
    await services.mail.join()
    mails_before = len(mailer.sent)

    known, unknown = await timed_pairs(
        services,
        clock,
        known=poster(app_client, path, lambda n: {"email": "jane@example.com"}),
        unknown=poster(app_client, path, lambda n: {"email": f"nobody{n}@example.com"}),
    )
    # The known address really got its mail every time, and the unknown ones none.
    assert len(mailer.sent) == mails_before + TRIES
    assert len(mailer.to("jane@example.com")) >= TRIES
    assert_same_time(known, unknown)


async def test_sign_up_takes_the_same_time_for_known_and_unknown_addresses(
    app_client: TestClient[Any, Any],
    mailer: RecordingMailer,
    services: Services,
    clock: FrozenClock,
) -> None:
    assert (await app_client.post("/api/v1/accounts", json=signup_body())).status == 202
    await services.mail.join()

    known, unknown = await timed_pairs(
        services,
        clock,
        known=poster(
            app_client, "/api/v1/accounts", lambda n: signup_body(f"again{n}", "jane@example.com")
        ),
        unknown=poster(
            app_client, "/api/v1/accounts", lambda n: signup_body(f"new{n}", f"new{n}@example.com")
        ),
        tries=SIGN_UP_TRIES,
    )
    # Known: "you already have an account" each time; unknown: an activation code each time.
    assert len(mailer.to("jane@example.com")) == 1 + SIGN_UP_TRIES
    assert all(len(mailer.to(f"new{n}@example.com")) == 1 for n in range(SIGN_UP_TRIES))
    assert_same_time(known, unknown)
