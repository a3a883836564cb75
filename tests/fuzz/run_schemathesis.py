"""Schemathesis against a real `homeline serve`: the whole OpenAPI document, four times over.

    .venv/bin/python -m tests.fuzz.run_schemathesis [--max-examples N] [--seed S] [--only WHO]

A fresh SQLite database seeded by `homeline migrate` and `homeline demo`, one server process on
a loopback port, then one schemathesis run per caller: nobody, a family member, a resident on a
tablet and a facility admin, each with a bearer token. The family is signed up and activated
through the API and the outbox, has an approved contact with resident A1001 and money in the
wallet, and has sent a message, so that the small ids the fuzzer tries (1 first) exist.

Every check is on (see tests/fuzz/schemathesis.toml for the few operations where a
schema-valid request may still be refused, and why). A server error, a schema violation or
any other failed check fails the run (exit status 1); `make fuzz` runs it, CI after the suite.
The seed and the example budget are fixed, so a run is repeatable and takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from tests.liveserver import Deployment, ServerProcess, sign_up_family, staff_log_in, tablet_log_in

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
CALLERS = ("anonymous", "family", "resident", "staff")
SEED = 20261207
MAX_EXAMPLES = 8
# Ending the caller's own session midway would turn the rest of its run into anonymous calls:
# each signed-in run leaves log-out out and then runs it alone, last.
LOG_OUT = "delete_api_v1_sessions_current"


class FuzzDeployment(Deployment):
    """The test harness's deployment without TRUST_PROXY: the fuzzer calls from loopback, as
    the operator's scraper does, so /metrics answers it too."""

    def env(self, port: int) -> dict[str, str]:
        env = super().env(port)
        env.pop("TRUST_PROXY")
        return env


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None


@dataclass(frozen=True)
class Outcome:
    caller: str
    ok: bool
    seconds: float
    cpu_seconds: float  # schemathesis's own
    summary: list[str]


def schemathesis_command() -> list[str]:
    """schemathesis's command line, through our wrapper (a higher recursion limit: see
    tests/fuzz/schemathesis_cli.py)."""
    return [sys.executable, str(HERE / "schemathesis_cli.py")]


def set_the_scene(server: ServerProcess, facility_id: int) -> list[Caller]:
    """The demo's people signed in with bearer tokens, and something for ids to name."""
    family = sign_up_family(server, "fuzzfamily", "fuzz.family@example.com")
    resident = tablet_log_in(server, facility_id, "A1001", "2468")
    staff = staff_log_in(server, "admin", "demo-admin-pass")
    contact = family.on(server).post("/api/v1/contacts", {"resident_id": resident.id})
    resident.on(server).post(f"/api/v1/contacts/{contact['id']}/approve")
    family.on(server).post(
        "/api/v1/deposits",
        {
            "account": {"type": "wallet"},
            "amount_cents": 5000,
            "channel": "online",
            "payment_token": "tok_sandbox_ok",
            "client_id": "fuzz-deposit",
        },
    )
    family.on(server).post(
        "/api/v1/messages",
        {"contact_id": contact["id"], "body": "Hello from the fuzzer", "client_id": "fuzz-1"},
    )
    return [
        Caller("anonymous", None),
        Caller("family", family.token),
        Caller("resident", resident.token),
        Caller("staff", staff.token),
    ]


def config_for(caller: Caller, folder: Path) -> Path:
    """The settings, plus the caller's token as the document's `bearer` scheme: schemathesis
    then knows the requests are authenticated, and its auth checks take the token away."""
    if caller.token is None:
        return CONFIG
    path = folder / f"{caller.name}.toml"
    path.write_text(
        CONFIG.read_text() + '\n[auth.openapi.bearer]\nbearer = "${HOMELINE_FUZZ_TOKEN}"\n'
    )
    return path


def run_one(
    caller: Caller, server: ServerProcess, args: argparse.Namespace, reports: Path
) -> Outcome:
    env = {**os.environ, "HOMELINE_FUZZ_TOKEN": caller.token or ""}
    base = [
        *schemathesis_command(),
        "--config-file",
        str(config_for(caller, reports)),
        "run",
        f"{server.url}/api/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(args.seed),
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(reports / f"{caller.name}.xml"),
    ]
    passes = [base]
    if caller.token:
        passes = [
            [*base, "--exclude-operation-id", LOG_OUT],
            [
                *base,
                "--include-operation-id",
                LOG_OUT,
                "--report-junit-path",
                str(reports / f"{caller.name}-logout.xml"),
            ],
        ]
    started = time.monotonic()
    cpu_before = _children_cpu()
    ok = True
    summary: list[str] = []
    for command in passes:
        what = (
            " (log-out, last)" if LOG_OUT in command and "--include-operation-id" in command else ""
        )
        print(f"\n=== schemathesis as {caller.name}{what} ===", flush=True)
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, env=env, cwd=reports
        )
        output = done.stdout + done.stderr
        if args.verbose or done.returncode != 0:
            print(output, flush=True)
        summary += _summary(output)
        ok = ok and done.returncode == 0
    seconds = time.monotonic() - started
    return Outcome(caller.name, ok, seconds, _children_cpu() - cpu_before, summary)


RECORD = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) ", re.M)


def logged_errors(log: str) -> list[str]:
    """The ERROR and CRITICAL records of a server log (LOG_FORMAT=text), except aiohttp's own
    for requests its HTTP parser refused (400) before any route saw them: schemathesis
    probes whether the server takes a NUL byte in a header."""
    starts = [m.start() for m in RECORD.finditer(log)] + [len(log)]
    records = [log[a:b] for a, b in pairwise(starts)]
    return [
        r
        for r in records
        if r.startswith(("ERROR", "CRITICAL"))
        and not (r.startswith("ERROR aiohttp.server ") and "BadHttpMessage" in r)
    ]


def _process_cpu(server: ServerProcess) -> float:
    """CPU seconds the server process has used so far (Linux; 0 elsewhere)."""
    assert server.proc is not None
    try:
        fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


SUMMARY_LINES = re.compile(r"^\s*(Tested: \d+|\d+ generated.*|=+ .* in [\d.]+s =+)\s*$", re.M)


def _summary(output: str) -> list[str]:
    return [m.group(1).strip("= ") for m in SUMMARY_LINES.finditer(output)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run_schemathesis",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=MAX_EXAMPLES,
        help="fuzzing examples per operation (default %(default)s; the coverage phase's "
        "boundary cases come on top)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="default %(default)s")
    parser.add_argument(
        "--workers",
        default="2",
        help="schemathesis's threads (default %(default)s: one generates while another waits "
        "for the server)",
    )
    parser.add_argument(
        "--only", choices=CALLERS, action="append", help="run only as these callers (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the server's folder and reports")
    parser.add_argument("--verbose", action="store_true", help="print schemathesis's whole output")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="homeline-fuzz-"))
    deployment = FuzzDeployment(root, f"sqlite+aiosqlite:///{root}/homeline.db")
    reports = root / "reports"
    reports.mkdir(parents=True)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    server: ServerProcess | None = None
    server_cpu = 0.0
    try:
        facility_id = deployment.seed_demo()
        server = deployment.process("fuzz").start()
        callers = set_the_scene(server, facility_id)
        for caller in callers:
            if args.only and caller.name not in args.only:
                continue
            outcomes.append(run_one(caller, server, args, reports))
        if not server.running:
            print(f"the server died:\n{server.tail()}", file=sys.stderr)
            return 1
        server_cpu = _process_cpu(server)
        # A failure that no answer shows (a background task, a handler after its answer).
        errors = logged_errors(server.log_path.read_text(errors="replace"))
        if errors:
            print("the server logged errors:\n" + "\n".join(errors[:5]))
            outcomes.append(Outcome("server log", False, 0.0, 0.0, [f"{len(errors)} errors"]))
    finally:
        if server is not None and server.running:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nschemathesis: seed {args.seed}, {args.max_examples} examples per operation")
    for o in outcomes:
        verdict = "ok    " if o.ok else "FAILED"
        print(
            f"  {o.caller:<10} {verdict} {o.seconds:6.1f} s (schemathesis CPU "
            f"{o.cpu_seconds:5.1f} s)  {'; '.join(o.summary)}"
        )
    print(f"  total {time.monotonic() - started:.1f} s (the server's CPU: {server_cpu:.1f} s)")
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
