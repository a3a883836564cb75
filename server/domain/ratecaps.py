"""Rate-cap profiles and the check of a tariff against one. Pure except for reading the file.

A profile is a JSON file (format "homeline-rate-caps/1"): per-minute caps for audio and video
by facility size class, and the kinds of communication on which separate ancillary fees are
banned. The packaged one, `data/rate_caps_fcc_2024.json`, holds the FCC's 2024 figures as
adopted; an operator can check against another with `homeline tariff check --profile FILE`.

`check` returns violations rather than raising: a tariff over the caps is still a valid
tariff (the demo default is one), and it is for people to decide what to change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.domain.tariff import Tariff

FORMAT = "homeline-rate-caps/1"
PACKAGED_PROFILE = "data/rate_caps_fcc_2024.json"
SERVICES = ("audio", "video")


class ProfileError(ValueError):
    """The profile file is missing, not JSON, or not in the expected shape."""


class Severity(StrEnum):
    ERROR = "error"  # the tariff breaks a rule of the profile as written
    WARNING = "warning"  # probably breaks one, depending on how the money is used


@dataclass(frozen=True)
class Violation:
    field: str  # the tariff's field, as in check_tariff's errors
    message: str
    severity: Severity

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "severity": self.severity.value}


@dataclass(frozen=True)
class SizeClass:
    name: str
    label: str
    definition: str
    audio_cents_per_minute: int
    video_cents_per_minute: int


@dataclass(frozen=True)
class RateCapProfile:
    name: str
    title: str
    notice: str
    size_classes: Mapping[str, SizeClass]
    ancillary_fees_banned_for: frozenset[str]  # a subset of SERVICES


def parse_profile(data: object) -> RateCapProfile:
    """A profile from its decoded JSON, or `ProfileError` saying what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProfileError(f'not a rate-cap profile (expected "format": "{FORMAT}")')
    classes = data.get("size_classes")
    if not isinstance(classes, dict) or not classes:
        raise ProfileError('"size_classes" must be an object with at least one class')
    parsed = {name: _size_class(name, c) for name, c in classes.items()}
    banned = (data.get("ancillary_service_fees") or {}).get("banned_for", [])
    if not isinstance(banned, list) or not set(banned) <= set(SERVICES):
        raise ProfileError(f'"ancillary_service_fees.banned_for" must list some of {SERVICES}')
    return RateCapProfile(
        name=_text(data, "name"),
        title=_text(data, "title"),
        notice=_text(data, "notice"),
        size_classes=parsed,
        ancillary_fees_banned_for=frozenset(banned),
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ProfileError(f'"{key}" must be a non-empty string')
    return value


def _size_class(name: str, data: object) -> SizeClass:
    if not isinstance(data, dict):
        raise ProfileError(f"size class {name!r} must be an object")
    caps = {}
    for service in SERVICES:
        key = f"{service}_cents_per_minute"
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProfileError(f"size class {name!r}: {key} must be a whole number >= 0")
        caps[service] = value
    return SizeClass(
        name=name,
        label=str(data.get("label") or name),
        definition=str(data.get("definition") or ""),
        audio_cents_per_minute=caps["audio"],
        video_cents_per_minute=caps["video"],
    )


def load_profile(path: Path | None = None) -> RateCapProfile:
    """The profile in `path`, or the packaged FCC 2024 one."""
    try:
        if path is None:
            text = resources.files("server.domain").joinpath(PACKAGED_PROFILE).read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read {path or PACKAGED_PROFILE}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"not valid JSON: {exc}") from None
    return parse_profile(data)


@cache
def default_profile() -> RateCapProfile:
    return load_profile()


def check(tariff: Tariff, profile: RateCapProfile) -> list[Violation]:
    """Every way `tariff` breaks `profile`, for the tariff's size class."""
    out: list[Violation] = []
    size = profile.size_classes.get(tariff.size_class)
    if size is None:
        known = ", ".join(profile.size_classes)
        out.append(
            Violation(
                "size_class",
                f"{tariff.size_class!r} is not a size class of {profile.name} ({known}), "
                "so the per-minute caps cannot be checked.",
                Severity.ERROR,
            )
        )
    else:
        cap = size.video_cents_per_minute
        for field, what in (
            ("remote_visit_cents_per_minute", "Remote video visits"),
            ("onsite_visit_cents_per_minute", "On-site video visits"),
        ):
            rate: int = getattr(tariff, field)
            if rate > cap:
                out.append(
                    Violation(
                        field,
                        f"{what} cost {rate}¢ a minute; the video cap for a "
                        f"{size.label.lower()} is {cap}¢.",
                        Severity.ERROR,
                    )
                )
    if "audio" in profile.ancillary_fees_banned_for:
        for channel, fee in tariff.calling_deposit_fee_cents.items():
            if fee > 0:
                out.append(
                    Violation(
                        f"calling_deposit_fee_cents.{channel}",
                        f"A {fee}¢ fee on {channel} deposits to calling accounts (Prepaid "
                        "Collect, PIN Debit) is a separate ancillary fee on audio calls, which "
                        "the profile bans.",
                        Severity.ERROR,
                    )
                )
    if "video" in profile.ancillary_fees_banned_for and tariff.wallet_deposit_fee_cents > 0:
        out.append(
            Violation(
                "wallet_deposit_fee_cents",
                f"A {tariff.wallet_deposit_fee_cents}¢ fee on wallet deposits: wallet funds pay "
                "for video visits, so this is likely an ancillary fee on video, which the "
                "profile bans (the wallet also pays for messages and photos, which it does "
                "not cover).",
                Severity.WARNING,
            )
        )
    return out
