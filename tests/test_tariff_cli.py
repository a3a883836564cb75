"""`homeline tariff check` and `homeline tariff show`, run as the operator runs them."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from server.domain.tariff import DEFAULT_TARIFF
from tests.story import Install

DEMO = "Riverside Correctional Facility (demo)"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated install with the demo facility (id 1), copied for each test."""
    install = Install(tmp_path_factory.mktemp("template") / "var")
    install.var.mkdir()
    for args in (("migrate",), ("demo", "--if-empty")):
        done = install.run(*args)
        assert done.returncode == 0, done.stderr
    return install.var


@pytest.fixture
def seeded(tmp_path: Path, template: Path) -> Install:
    shutil.copytree(template, tmp_path / "var")
    return Install(tmp_path / "var")


def compliant_tariff(**changes: object) -> dict[str, object]:
    data = DEFAULT_TARIFF.to_json()
    data["remote_visit_cents_per_minute"] = 16
    data["wallet_deposit_fee_cents"] = 0
    data["calling_deposit_fee_cents"] = {ch: 0 for ch in data["calling_deposit_fee_cents"]}
    data.update(changes)
    return data


def store_tariff(install: Install, facility_id: int, tariff: dict[str, object]) -> None:
    """What an admin's PUT leaves in the database."""
    with sqlite3.connect(install.db_path) as conn:
        conn.execute(
            "INSERT INTO facility_settings (facility_id, tariff, updated_at) VALUES (?, ?, ?)",
            (facility_id, json.dumps(tariff), "2026-11-18 15:00:00.000000"),
        )


def add_facility(install: Install, name: str) -> int:
    with sqlite3.connect(install.db_path) as conn:
        cursor = conn.execute(
            "INSERT INTO facilities (name, city, state, timezone, created_at) "
            "VALUES (?, 'Hilltop', 'NY', 'America/New_York', '2026-11-18 15:00:00.000000')",
            (name,),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def test_tariff_check_lists_the_demo_facilitys_violations_and_exits_1(seeded: Install) -> None:
    done = seeded.run("tariff", "check")
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(DEMO)]
    assert {line.split(": ")[1] for line in lines} == {
        "remote_visit_cents_per_minute",
        "calling_deposit_fee_cents.online",
        "calling_deposit_fee_cents.kiosk",
        "calling_deposit_fee_cents.phone",
        "calling_deposit_fee_cents.operator",
        "wallet_deposit_fee_cents",
    }
    assert any("20¢" in line and "16¢" in line for line in lines)
    assert "July 2024" in done.stdout  # the profile's notice: verify current values
    assert "6 violation(s) in 1 facilities." in done.stdout


def test_tariff_check_covers_every_facility_and_reads_stored_tariffs(seeded: Install) -> None:
    hilltop = add_facility(seeded, "Hilltop Jail")
    store_tariff(seeded, hilltop, compliant_tariff(size_class="large_jail"))
    done = seeded.run("tariff", "check")
    assert done.returncode == 1
    assert "Hilltop Jail" in done.stdout  # 16¢ is over a large jail's 11¢
    hilltop_lines = [line for line in done.stdout.splitlines() if line.startswith("Hilltop")]
    assert len(hilltop_lines) == 1 and "remote_visit_cents_per_minute" in hilltop_lines[0]

    with sqlite3.connect(seeded.db_path) as conn:
        conn.execute(
            "UPDATE facility_settings SET tariff = ? WHERE facility_id = ?",
            (json.dumps(compliant_tariff(size_class="very_small_jail")), hilltop),
        )
    store_tariff(seeded, 1, compliant_tariff())
    done = seeded.run("tariff", "check")
    assert done.returncode == 0, done.stdout
    assert "0 violation(s) in 2 facilities." in done.stdout


def test_tariff_check_with_another_profile(seeded: Install, tmp_path: Path) -> None:
    packaged = Path(__file__).parent.parent / "server/domain/data/rate_caps_fcc_2024.json"
    profile = json.loads(packaged.read_text(encoding="utf-8"))
    profile["name"] = "lenient"
    profile["size_classes"]["prison"]["video_cents_per_minute"] = 25
    profile["ancillary_service_fees"] = {"banned_for": []}
    path = tmp_path / "lenient.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    done = seeded.run("tariff", "check", "--profile", str(path))
    assert done.returncode == 0, done.stdout
    assert "Checked against lenient" in done.stdout


def test_tariff_check_with_an_unreadable_profile_exits_2(seeded: Install, tmp_path: Path) -> None:
    done = seeded.run("tariff", "check", "--profile", str(tmp_path / "absent.json"))
    assert done.returncode == 2
    assert "rate-cap profile" in done.stderr


def test_tariff_show_prints_the_json_an_admin_can_put_back(seeded: Install) -> None:
    done = seeded.run("tariff", "show", "--facility", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == DEFAULT_TARIFF.to_json()

    done = seeded.run("tariff", "show", "--facility", "99")
    assert done.returncode == 2
    assert "No such facility" in done.stderr


def test_tariff_help_says_what_it_does(seeded: Install) -> None:
    for args, words in (
        (("tariff",), "prices and fees"),
        (("tariff", "check"), "rate-cap profile"),
        (("tariff", "show"), "as JSON"),
    ):
        done = seeded.run(*args, "--help")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: homeline tariff")
        assert words in " ".join(done.stdout.split()), done.stdout
    done = seeded.run("tariff", "check", "--help")
    text = " ".join(done.stdout.split())
    assert "Exits 1 if there is any" in text and "--profile FILE" in text
