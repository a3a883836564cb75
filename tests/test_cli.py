"""The `homeline` command, run as the operator runs it: a real process with its environment."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Config
from tests.story import HOMELINE, Install

STAFF_PASSWORD = "a long staff passphrase"
ROSTER_HEADER = "resident_number,first_name,last_name,date_of_birth,housing_unit,pin\n"


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated and seeded database, copied for each test (each command is a process)."""
    install = Install(tmp_path_factory.mktemp("template") / "var")
    install.var.mkdir()
    for args in (("migrate",), ("demo", "--if-empty")):
        done = install.run(*args)
        assert done.returncode == 0, done.stderr
    return install.var


@pytest.fixture
def fresh(tmp_path: Path) -> Install:
    var = tmp_path / "var"
    var.mkdir()
    return Install(var)


@pytest.fixture
def seeded(tmp_path: Path, seeded_template: Path) -> Install:
    """Migrated, with the demo facility (id 1) and its four residents."""
    shutil.copytree(seeded_template, tmp_path / "var")
    return Install(tmp_path / "var")


def test_help_of_every_command_says_what_it_does(fresh: Install) -> None:
    expected = {
        (): "messaging and video visits",
        ("serve",): "Serve HTTP and socket.io",
        ("migrate",): "database schema up to date",
        ("demo",): "demo facility",
        ("roster",): "residents",
        ("roster", "import"): "CSV file",
        ("staff",): "staff members",
        ("staff", "add"): "Add a staff member",
    }
    running = {
        args: subprocess.Popen(
            [str(HOMELINE), *args, "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=fresh.env(),
        )
        for args in expected
    }
    for args, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (args, err)
        assert out.startswith("usage: homeline"), args
        assert expected[args] in " ".join(out.split()), (args, out)
    assert not (fresh.var / "homeline.db").exists()  # help touches nothing


def test_migrate_then_demo_prints_sign_in_details(fresh: Install) -> None:
    done = fresh.run("migrate")
    assert done.returncode == 0, done.stderr
    assert "database at revision" in done.stdout

    done = fresh.run("demo", "--if-empty")
    assert done.returncode == 0, done.stderr
    assert "demo facility created" in done.stdout
    assert "A1001 / 2468" in done.stdout
    assert "Marcus Reed" in done.stdout
    assert fresh.rows("SELECT count(*) FROM facilities") == [(1,)]
    assert fresh.rows("SELECT count(*) FROM residents") == [(4,)]
    assert fresh.rows("SELECT count(*) FROM staff") == [(3,)]


def test_demo_if_empty_twice_creates_nothing_new(seeded: Install) -> None:
    before = [
        seeded.rows(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
        for table in ("facilities", "residents", "staff")
    ]
    done = seeded.run("demo", "--if-empty")
    assert done.returncode == 0, done.stderr
    assert "created" not in done.stdout
    assert "A1001 / 2468" in done.stdout
    after = [
        seeded.rows(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
        for table in ("facilities", "residents", "staff")
    ]
    assert after == before


def write_csv(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(ROSTER_HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_roster_import_creates_then_updates(seeded: Install, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path,
        "roster.csv",
        ["B2001,Ana,Diaz,1990-01-31,F-02,4321", "B2002,Ben,Cole,1985-07-04,F-03,98765"],
    )
    done = seeded.run("roster", "import", str(first), "--facility", "1")
    assert done.returncode == 0, done.stderr
    assert "2 residents added, 0 updated" in done.stdout

    moved = write_csv(
        tmp_path,
        "moved.csv",
        ["B2001,Ana,Diaz-Moreno,1990-01-31,G-11,4321", "B2003,Cy,Park,1979-12-12,G-12,1212"],
    )
    done = seeded.run("roster", "import", str(moved), "--facility", "1")
    assert done.returncode == 0, done.stderr
    assert "1 residents added, 1 updated" in done.stdout
    assert seeded.rows(
        "SELECT last_name, housing_unit, search_name FROM residents WHERE resident_number = ?",
        "B2001",
    ) == [("Diaz-Moreno", "G-11", "ana diaz-moreno")]
    assert seeded.rows("SELECT count(*) FROM residents WHERE facility_id = 1") == [(7,)]


def test_roster_with_bad_lines_imports_nothing(seeded: Install, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "bad.csv",
        [
            "B2001,Ana,Diaz,1990-01-31,F-02,4321",  # line 2: fine
            "B2002,Ben,Cole,1985-02-30,F-03,9876",  # line 3: no such date
            "B2003,Cy,Park,1979-12-12,G-12,123",  # line 4: PIN too short
            "B2001,Dee,Lane,1970-05-05,G-13,5555",  # line 5: number used on line 2
            "B2004,Eve,Moss,19700505,G-14,5555",  # line 6: a date, but not as YYYY-MM-DD
        ],
    )
    done = seeded.run("roster", "import", str(path), "--facility", "1")
    assert done.returncode == 2
    assert "nothing was imported" in done.stderr
    assert "line 2" not in done.stderr
    for line, words in (
        ("line 3", "date"),
        ("line 4", "pin"),
        ("line 5", "twice"),
        ("line 6", "YYYY-MM-DD"),
    ):
        reported = [row for row in done.stderr.splitlines() if line in row]
        assert reported and words in reported[0], done.stderr
    assert seeded.rows("SELECT count(*) FROM residents") == [(4,)]


def test_roster_without_required_columns_is_refused(seeded: Install, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("resident_number,first_name,last_name\nB2001,Ana,Diaz\n", encoding="utf-8")
    done = seeded.run("roster", "import", str(path), "--facility", "1")
    assert done.returncode == 2
    for column in ("date_of_birth", "housing_unit", "pin"):
        assert column in done.stderr
    assert seeded.rows("SELECT count(*) FROM residents") == [(4,)]


def test_roster_for_unknown_facility_is_refused(seeded: Install, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "roster.csv", ["B2001,Ana,Diaz,1990-01-31,F-02,4321"])
    done = seeded.run("roster", "import", str(path), "--facility", "99")
    assert done.returncode == 2
    assert "No facility with id 99" in done.stderr
    assert seeded.rows("SELECT count(*) FROM residents") == [(4,)]


def test_roster_file_that_cannot_be_read_is_refused(seeded: Install, tmp_path: Path) -> None:
    done = seeded.run("roster", "import", str(tmp_path / "none.csv"), "--facility", "1")
    assert done.returncode == 2
    assert "cannot read" in done.stderr


async def test_staff_add_then_log_in(
    seeded: Install, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> None:
    done = seeded.run(
        "staff", "add", "bob", "--role", "reviewer", "--facility", "1", stdin=STAFF_PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert "staff member bob added" in done.stdout
    assert seeded.rows("SELECT role, facility_id, active FROM staff WHERE username = 'bob'") == [
        ("reviewer", 1, 1)
    ]

    config = Config(
        database_url=seeded.env()["DATABASE_URL"], var_dir=seeded.var, secret_key="test-secret"
    )
    client = await aiohttp_client(create_app(config))
    resp = await client.post(
        "/api/v1/staff/sessions",
        json={"username": "bob", "password": STAFF_PASSWORD, "session": "bearer"},
    )
    assert resp.status == 201, await resp.text()
    principal = (await resp.json())["principal"]
    assert (principal["kind"], principal["role"], principal["facility_id"]) == (
        "staff",
        "reviewer",
        1,
    )


def test_reviewer_without_facility_is_refused(seeded: Install) -> None:
    done = seeded.run("staff", "add", "bob", "--role", "reviewer", stdin=STAFF_PASSWORD + "\n")
    assert done.returncode == 2
    assert "facility" in done.stderr
    assert seeded.rows("SELECT count(*) FROM staff WHERE username = 'bob'") == [(0,)]


def test_staff_for_unknown_facility_is_refused(seeded: Install) -> None:
    done = seeded.run(
        "staff", "add", "bob", "--role", "reviewer", "--facility", "99", stdin=STAFF_PASSWORD
    )
    assert done.returncode == 2
    assert "No facility with id 99" in done.stderr
    assert seeded.rows("SELECT count(*) FROM staff WHERE username = 'bob'") == [(0,)]


def test_commands_on_an_unmigrated_database_say_to_migrate(fresh: Install) -> None:
    done = fresh.run("demo")
    assert done.returncode == 2
    assert "homeline migrate" in done.stderr
    assert "Traceback" not in done.stderr
