"""The rate-cap profile shipped with Homeline, and the check of a tariff against it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from server.domain.ratecaps import (
    ProfileError,
    RateCapProfile,
    Severity,
    check,
    default_profile,
    load_profile,
)
from server.domain.tariff import DEFAULT_TARIFF, Tariff

FCC = default_profile()
COMPLIANT = replace(
    DEFAULT_TARIFF,
    remote_visit_cents_per_minute=16,
    onsite_visit_cents_per_minute=0,
    wallet_deposit_fee_cents=0,
    calling_deposit_fee_cents={ch: 0 for ch in DEFAULT_TARIFF.calling_deposit_fee_cents},
)


def fields(tariff: Tariff, profile: RateCapProfile = FCC) -> dict[str, Severity]:
    return {v.field: v.severity for v in check(tariff, profile)}


def test_packaged_profile_holds_the_fcc_2024_caps() -> None:
    audio = {n: c.audio_cents_per_minute for n, c in FCC.size_classes.items()}
    video = {n: c.video_cents_per_minute for n, c in FCC.size_classes.items()}
    assert audio == {
        "prison": 6,
        "large_jail": 6,
        "medium_jail": 7,
        "small_jail": 9,
        "very_small_jail": 12,
    }
    assert video == {
        "prison": 16,
        "large_jail": 11,
        "medium_jail": 12,
        "small_jail": 14,
        "very_small_jail": 25,
    }
    assert FCC.ancillary_fees_banned_for == {"audio", "video"}
    assert "July 2024" in FCC.notice and "verify" in FCC.notice
    assert "1,000 or more" in FCC.size_classes["large_jail"].definition


def test_default_tariff_in_a_prison_breaks_the_video_cap_and_the_fee_ban() -> None:
    violations = check(DEFAULT_TARIFF, FCC)
    assert {v.field: v.severity for v in violations} == {
        "remote_visit_cents_per_minute": Severity.ERROR,
        "calling_deposit_fee_cents.online": Severity.ERROR,
        "calling_deposit_fee_cents.kiosk": Severity.ERROR,
        "calling_deposit_fee_cents.phone": Severity.ERROR,
        "calling_deposit_fee_cents.operator": Severity.ERROR,
        "wallet_deposit_fee_cents": Severity.WARNING,
    }
    by_field = {v.field: v.message for v in violations}
    assert "20¢" in by_field["remote_visit_cents_per_minute"]
    assert "16¢" in by_field["remote_visit_cents_per_minute"]
    assert "video visits" in by_field["wallet_deposit_fee_cents"]
    # Mail deposits are free, so they break nothing.
    assert "calling_deposit_fee_cents.mail" not in by_field


def test_compliant_tariff_lists_no_violation() -> None:
    assert check(COMPLIANT, FCC) == []


def test_video_cap_is_inclusive() -> None:
    assert fields(replace(COMPLIANT, remote_visit_cents_per_minute=17)) == {
        "remote_visit_cents_per_minute": Severity.ERROR
    }


def test_cap_depends_on_the_size_class() -> None:
    very_small = replace(DEFAULT_TARIFF, size_class="very_small_jail")
    assert "remote_visit_cents_per_minute" not in fields(very_small)  # 20¢ <= 25¢
    large = replace(COMPLIANT, size_class="large_jail", remote_visit_cents_per_minute=12)
    assert fields(large) == {"remote_visit_cents_per_minute": Severity.ERROR}  # 12¢ > 11¢


def test_onsite_visits_are_capped_too() -> None:
    priced = replace(COMPLIANT, onsite_visit_cents_per_minute=20)
    assert fields(priced) == {"onsite_visit_cents_per_minute": Severity.ERROR}


def test_unknown_size_class_is_reported_and_caps_skipped() -> None:
    violations = check(replace(COMPLIANT, size_class="regional_centre"), FCC)
    assert [v.field for v in violations] == ["size_class"]
    assert "regional_centre" in violations[0].message
    assert "prison" in violations[0].message


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def packaged_json() -> dict[str, object]:
    path = Path(__file__).parent.parent / "server/domain/data/rate_caps_fcc_2024.json"
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_profile_without_the_fee_ban_allows_deposit_fees(tmp_path: Path) -> None:
    data = packaged_json()
    data["ancillary_service_fees"] = {"banned_for": []}
    profile = load_profile(write(tmp_path, data))
    assert fields(DEFAULT_TARIFF, profile) == {"remote_visit_cents_per_minute": Severity.ERROR}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a rate-cap profile"),
        ('{"format": "homeline-rate-caps/1", "size_classes": {}}', "size_classes"),
        (
            '{"format": "homeline-rate-caps/1", "name": "x", "title": "x", "notice": "x",'
            ' "size_classes": {"prison": {"audio_cents_per_minute": 6,'
            ' "video_cents_per_minute": -1}}}',
            "video_cents_per_minute",
        ),
        (
            '{"format": "homeline-rate-caps/1", "name": "x", "title": "x", "notice": "x",'
            ' "size_classes": {"prison": {"audio_cents_per_minute": 6,'
            ' "video_cents_per_minute": 16}}, "ancillary_service_fees": {"banned_for": ["sms"]}}',
            "banned_for",
        ),
    ],
)
def test_broken_profile_is_refused_with_a_reason(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProfileError, match=words):
        load_profile(path)


def test_missing_profile_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.json")
