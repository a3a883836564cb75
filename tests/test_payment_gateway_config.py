"""Which payment processor a server uses: the sandbox only where it cannot pass for money."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import Config
from server.services.payments import SandboxGateway, load_gateway


class FakeProcessor(SandboxGateway):
    name = "plugged-in"


def make_gateway(config: Config) -> FakeProcessor:
    return FakeProcessor()


def test_sandbox_is_fine_on_this_machine() -> None:
    gw = load_gateway("sandbox", Config(), public_url="http://127.0.0.1:8080", allow_sandbox=False)
    assert gw.name == "sandbox"


def test_sandbox_is_refused_for_a_public_server() -> None:
    with pytest.raises(ValueError, match="ALLOW_SANDBOX_PAYMENTS"):
        load_gateway(
            "sandbox", Config(), public_url="https://homeline.example.org", allow_sandbox=False
        )
    gw = load_gateway(
        "sandbox", Config(), public_url="https://test.example.org", allow_sandbox=True
    )
    assert gw.name == "sandbox"


def test_a_real_processor_plugs_in_by_factory_path() -> None:
    gw = load_gateway(
        "tests.test_payment_gateway_config:make_gateway",
        Config(),
        public_url="https://homeline.example.org",
        allow_sandbox=False,
    )
    assert gw.name == "plugged-in"
    with pytest.raises(ValueError, match=r"package\.module:factory"):
        load_gateway("nonsense", Config(), public_url="http://127.0.0.1", allow_sandbox=False)


def test_serve_refuses_to_start_with_sandbox_on_a_public_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env |= {"HOMELINE_VAR": str(tmp_path / "var"), "PUBLIC_URL": "https://homeline.example.org"}
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ALLOW_SANDBOX_PAYMENTS" in done.stderr
