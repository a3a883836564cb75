"""TURN credentials for a visit (signaling/domain/turn.py): coturn's `use-auth-secret` scheme,
valid only until shortly after the visit's end."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signaling.domain.turn import GRACE, credential_expiry, ice_servers, turn_credential

ENDS = datetime(2026, 12, 8, 15, 30, tzinfo=UTC)


def test_the_username_is_expiry_and_visit_and_the_password_coturns_hmac() -> None:
    username, password = turn_credential("s3cret", visit_id=42, expires_at=ENDS)
    assert username == f"{int(ENDS.timestamp())}:42" == "1796743800:42"
    # What coturn computes from the same secret (HMAC-SHA1, base64).
    expected = base64.b64encode(hmac.new(b"s3cret", b"1796743800:42", hashlib.sha1).digest())
    assert password == expected.decode()


def test_a_credential_expires_shortly_after_the_visit_and_never_later() -> None:
    [stun, turn] = ice_servers(
        ["stun:turn.example.org:3478", "turn:turn.example.org:3478?transport=udp"],
        "s3cret",
        visit_id=7,
        ends_at=ENDS,
    )
    assert stun == {"urls": ["stun:turn.example.org:3478"]}
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert credential_expiry(str(turn["username"])) == ENDS + GRACE
    assert timedelta(minutes=5) >= GRACE


def test_the_same_end_in_another_zone_gives_the_same_credential() -> None:
    elsewhere = ENDS.astimezone(timezone(timedelta(hours=-5)))
    assert turn_credential("k", visit_id=1, expires_at=elsewhere) == turn_credential(
        "k", visit_id=1, expires_at=ENDS
    )


def test_without_a_secret_there_is_no_turn_server_and_no_credential() -> None:
    assert ice_servers(["turn:t.example.org"], None, visit_id=1, ends_at=ENDS) == []
    assert ice_servers([], "k", visit_id=1, ends_at=ENDS) == []
    with pytest.raises(ValueError, match="TURN_SECRET"):
        turn_credential("", visit_id=1, expires_at=ENDS)
    with pytest.raises(ValueError, match="timezone"):
        turn_credential("k", visit_id=1, expires_at=ENDS.replace(tzinfo=None))
    with pytest.raises(ValueError, match="not a STUN or TURN URL"):
        ice_servers(["http://t.example.org"], "k", visit_id=1, ends_at=ENDS)


def test_a_username_that_is_not_ours_has_no_expiry() -> None:
    assert credential_expiry("alice") is None
    assert credential_expiry("123:abc") is None


@given(
    secret=st.text(min_size=1, max_size=64),
    visit_id=st.integers(min_value=1, max_value=2**63 - 1),
    other=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_each_visit_gets_its_own_password(secret: str, visit_id: int, other: int) -> None:
    mine = turn_credential(secret, visit_id=visit_id, expires_at=ENDS)
    theirs = turn_credential(secret, visit_id=other, expires_at=ENDS)
    assert (mine == theirs) == (visit_id == other)
