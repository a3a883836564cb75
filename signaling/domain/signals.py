"""What a `/visits` client may send (DESIGN.md §3), checked before anything is relayed. Pure.

- `signal {visit_id, description}`: an SDP offer or answer, `{type, sdp}` as the browser's
  `RTCSessionDescription.toJSON()` gives it;
- `signal {visit_id, candidate}`: one ICE candidate, `RTCIceCandidate.toJSON()`'s shape
  `{candidate, sdpMid, sdpMLineIndex, usernameFragment}`; an empty `candidate` is the
  end-of-candidates marker;
- `state {visit_id, connection}`: the client's `RTCPeerConnection.connectionState`, which
  meters connected time.

A signal travels to the other party verbatim, so it is held to what browsers, aiortc and Janus
actually produce: bounded sizes, printable ASCII only (no NUL, no control characters, nothing
that could smuggle a line into the other party's SDP parser). Keys other than the documented
ones are ignored and never relayed: `relay_json()` rebuilds the payload from the checked
fields. Every problem is a `FieldErrors` naming the field ("description.sdp",
"candidate.sdpMLineIndex") with a sentence for the person reading the client's log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from server.errors import BadRequest, FieldErrors

# Ids are what the database holds (as everywhere in the API).
MAX_ID = 2**63 - 1
# A browser's offer for one audio and one video track is 3 to 6 KB; 64 KiB leaves room for
# many codecs and simulcast while keeping a relayed message small.
MAX_SDP_CHARS = 64 * 1024
# A candidate line is about 100 to 200 characters (a relay candidate with its TURN address).
MAX_CANDIDATE_CHARS = 1024
# A media id is a short token ("0", "audio"); RFC 8839 allows a ufrag of up to 256 characters.
MAX_MID_CHARS = 256
MAX_UFRAG_CHARS = 256
MIN_UFRAG_CHARS = 4
# A visit has an audio and a video section; renegotiation may add a few. 64 sections is far
# beyond any visit and keeps the index a small number.
MAX_M_LINE_INDEX = 63

# An SDP line is `<type>=<value>` (RFC 8866 §5), the type one lowercase letter; the value is
# printable ASCII or tab. Lines end with CRLF or LF; the last line ending may be missing.
_SDP_LINE = re.compile(r"[a-z]=[\x20-\x7e\t]*")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
# RFC 8839: ice-char = ALPHA / DIGIT / "+" / "/".
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]*")


class SdpType(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"


class ConnectionState(StrEnum):
    """`RTCPeerConnectionState` (W3C WebRTC): what the client says its connection is."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class SessionDescription:
    type: SdpType
    sdp: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type.value, "sdp": self.sdp}


@dataclass(frozen=True)
class IceCandidate:
    """One candidate; `candidate == ""` is the end of candidates (for that section)."""

    candidate: str
    sdp_mid: str | None
    sdp_m_line_index: int | None
    username_fragment: str | None

    @property
    def end_of_candidates(self) -> bool:
        return self.candidate == ""

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_m_line_index,
            "usernameFragment": self.username_fragment,
        }


@dataclass(frozen=True)
class DescriptionSignal:
    visit_id: int
    description: SessionDescription

    def relay_json(self) -> dict[str, Any]:
        """What the other party receives."""
        return {"visit_id": self.visit_id, "description": self.description.to_json()}


@dataclass(frozen=True)
class CandidateSignal:
    visit_id: int
    candidate: IceCandidate

    def relay_json(self) -> dict[str, Any]:
        """What the other party receives."""
        return {"visit_id": self.visit_id, "candidate": self.candidate.to_json()}


Signal = DescriptionSignal | CandidateSignal


@dataclass(frozen=True)
class StateReport:
    visit_id: int
    connection: ConnectionState


def check_signal(payload: object) -> Signal:
    """`signal {visit_id, description | candidate}` as typed objects, or `FieldErrors`.

    Exactly one of `description` and `candidate`; a key sent as null counts as absent.
    """
    data = _object(
        payload, "A signal is an object: {visit_id, description} or {visit_id, candidate}."
    )
    problems: dict[str, str] = {}
    visit_id = _visit_id(data.get("visit_id"), problems)
    raw_description = data.get("description")
    raw_candidate = data.get("candidate")
    if raw_description is None and raw_candidate is None:
        problems["description"] = "Send a description (an offer or an answer) or a candidate."
    elif raw_description is not None and raw_candidate is not None:
        problems["candidate"] = "Send either a description or a candidate, not both at once."
    description = candidate = None
    if raw_description is not None and raw_candidate is None:
        description = _description(raw_description, problems)
    if raw_candidate is not None and raw_description is None:
        candidate = _candidate(raw_candidate, problems)
    if problems:
        raise FieldErrors(problems)
    assert visit_id is not None
    if description is not None:
        return DescriptionSignal(visit_id=visit_id, description=description)
    assert candidate is not None
    return CandidateSignal(visit_id=visit_id, candidate=candidate)


def check_state(payload: object) -> StateReport:
    """`state {visit_id, connection}` as a `StateReport`, or `FieldErrors`."""
    data = _object(payload, "A state report is an object: {visit_id, connection}.")
    problems: dict[str, str] = {}
    visit_id = _visit_id(data.get("visit_id"), problems)
    connection: ConnectionState | None = None
    raw = data.get("connection")
    if not isinstance(raw, str) or raw not in set(ConnectionState):
        problems["connection"] = (
            f"Must be one of {', '.join(s.value for s in ConnectionState)} "
            "(the peer connection's connectionState)."
        )
    else:
        connection = ConnectionState(raw)
    if problems:
        raise FieldErrors(problems)
    assert visit_id is not None and connection is not None
    return StateReport(visit_id=visit_id, connection=connection)


def _object(payload: object, message: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise BadRequest(message)
    return payload


def _visit_id(value: object, problems: dict[str, str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        problems["visit_id"] = f"Must be a visit's id: a whole number from 1 to {MAX_ID}."
        return None
    return value


def _description(value: object, problems: dict[str, str]) -> SessionDescription | None:
    if not isinstance(value, Mapping):
        problems["description"] = "Must be an object {type, sdp}."
        return None
    raw_type = value.get("type")
    sdp_type: SdpType | None = None
    if not isinstance(raw_type, str) or raw_type not in set(SdpType):
        problems["description.type"] = 'Must be "offer" or "answer".'
    else:
        sdp_type = SdpType(raw_type)
    sdp = _sdp(value.get("sdp"), problems)
    if sdp_type is None or sdp is None:
        return None
    return SessionDescription(type=sdp_type, sdp=sdp)


def _sdp(value: object, problems: dict[str, str]) -> str | None:
    where = "description.sdp"
    if not isinstance(value, str):
        problems[where] = "Must be the session description's text (SDP)."
        return None
    if len(value) > MAX_SDP_CHARS:
        problems[where] = (
            f"A session description can be at most {MAX_SDP_CHARS:,} characters; "
            f"this one has {len(value):,}."
        )
        return None
    if not value.startswith(("v=0\r\n", "v=0\n")) and value != "v=0":
        problems[where] = 'Must be SDP: the first line is "v=0".'
        return None
    body = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    for number, line in enumerate(body.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not _SDP_LINE.fullmatch(line):
            problems[where] = (
                f"Line {number} is not an SDP line: each line is a lowercase letter, "
                '"=", then printable ASCII (no control characters, no blank lines).'
            )
            return None
    return value


def _candidate(value: object, problems: dict[str, str]) -> IceCandidate | None:
    if not isinstance(value, Mapping):
        problems["candidate"] = (
            "Must be an object {candidate, sdpMid, sdpMLineIndex, usernameFragment}."
        )
        return None
    before = len(problems)
    text = value.get("candidate")
    if not isinstance(text, str):
        problems["candidate.candidate"] = (
            'Must be the candidate line ("candidate:..."), or "" for the end of candidates.'
        )
    elif len(text) > MAX_CANDIDATE_CHARS:
        problems["candidate.candidate"] = (
            f"A candidate can be at most {MAX_CANDIDATE_CHARS:,} characters; "
            f"this one has {len(text):,}."
        )
    elif text and not (text.startswith("candidate:") and _PRINTABLE.fullmatch(text)):
        problems["candidate.candidate"] = (
            'Must start with "candidate:" and hold only printable ASCII characters.'
        )

    mid = value.get("sdpMid")
    if mid is not None and (
        not isinstance(mid, str)
        or not 1 <= len(mid) <= MAX_MID_CHARS
        or not _PRINTABLE.fullmatch(mid)
        or " " in mid
    ):
        problems["candidate.sdpMid"] = (
            f"Must be null or a media id: 1 to {MAX_MID_CHARS} printable ASCII characters, "
            "no spaces."
        )

    index = value.get("sdpMLineIndex")
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_M_LINE_INDEX
    ):
        problems["candidate.sdpMLineIndex"] = (
            f"Must be null or a whole number from 0 to {MAX_M_LINE_INDEX}."
        )

    ufrag = value.get("usernameFragment")
    if ufrag is not None and (
        not isinstance(ufrag, str)
        or not MIN_UFRAG_CHARS <= len(ufrag) <= MAX_UFRAG_CHARS
        or not _ICE_CHARS.fullmatch(ufrag)
    ):
        problems["candidate.usernameFragment"] = (
            f"Must be null or an ICE username fragment: {MIN_UFRAG_CHARS} to "
            f"{MAX_UFRAG_CHARS} letters, digits, '+' or '/'."
        )

    # As RTCPeerConnection.addIceCandidate: a real candidate must say which media section it
    # belongs to; the end-of-candidates marker may leave both out (it then ends them all).
    if len(problems) == before and text and mid is None and index is None:
        problems["candidate"] = "A candidate needs sdpMid or sdpMLineIndex (or both)."
    if len(problems) > before:
        return None
    assert isinstance(text, str)
    return IceCandidate(
        candidate=text,
        sdp_mid=mid if isinstance(mid, str) else None,
        sdp_m_line_index=index if isinstance(index, int) else None,
        username_fragment=ufrag if isinstance(ufrag, str) else None,
    )
