"""The command line: a Homeline installation in a folder of its own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOMELINE = Path(sys.executable).parent / "homeline"


@dataclass
class Install:
    """A Homeline installation: its var/ folder and SQLite database."""

    var: Path

    @property
    def db_path(self) -> Path:
        return self.var / "homeline.db"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "HOMELINE_", "TEST_"))
        }
        env["HOMELINE_VAR"] = str(self.var)
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{self.db_path}"
        return env

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HOMELINE), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.var.parent,
            timeout=60,
        )

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, params).fetchall()
