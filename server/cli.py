"""The `homeline` command: serve, migrate, demo, roster import, staff add, tariff check/show."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError

from server.clock import SystemClock
from server.config import Config
from server.errors import DomainError, FieldErrors
from server.services.context import Services, StaffRole
from server.services.mail import MailQueue, OutboxMailer
from server.services.passwords import Hasher
from server.services.payments import SandboxGateway, load_gateway
from server.services.ratelimit import MemoryRateLimiter
from server.storage.db import Database, create_engine


@asynccontextmanager
async def services(config: Config) -> AsyncIterator[Services]:
    """The services without the web server, for one-off commands (with the moderation wing's
    policy plugged in, as server/app.py does)."""
    from server.app import POLICY_SOURCE  # the composition root's choice of wings

    clock = SystemClock()
    db = Database(create_engine(config.database_url))
    mail = MailQueue(OutboxMailer(config.outbox_dir, clock), sender=config.smtp_from, clock=clock)
    try:
        yield Services(
            config=config,
            db=db,
            clock=clock,
            hasher=Hasher(),
            limiter=MemoryRateLimiter(clock),
            mail=mail,
            gateway=SandboxGateway(),
            policies=POLICY_SOURCE,
        )
    finally:
        await db.close()


def _run(config: Config, job: Callable[[Services], Awaitable[int]]) -> int:
    async def main() -> int:
        async with services(config) as svc:
            return await job(svc)

    try:
        return asyncio.run(main())
    except FieldErrors as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for name, problem in exc.fields.items():
            print(f"  {name}: {problem}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(
            f"error: the database is not ready ({type(exc.orig).__name__}). "
            "Is DATABASE_URL right, and has `homeline migrate` been run?",
            file=sys.stderr,
        )
        return 2


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from server.storage.migrate import current_revision, upgrade

    async def job(svc: Services) -> int:
        await upgrade(svc.db)
        print(f"database at revision {await current_revision(svc.db)}")
        return 0

    return _run(config, job)


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    from server.demo import demo_banner, do_seed_demo

    async def job(svc: Services) -> int:
        seed = await do_seed_demo(svc, only_if_empty=args.if_empty)
        if seed.created:
            print("demo facility created")
        if seed.facility_id:
            print(demo_banner(config.public_url, seed.facility_id))
        return 0

    return _run(config, job)


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.logs import configure_logging
    from server.runner import serve

    config = config.with_(host=args.host or config.host, port=args.port or config.port)
    if args.port and "PUBLIC_URL" not in os.environ:
        config = config.with_(public_url=f"http://127.0.0.1:{args.port}")
    try:
        gateway = load_gateway(
            config.payment_gateway,
            config,
            public_url=config.public_url,
            allow_sandbox=config.allow_sandbox_payments,
        )
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # --prepare: the embedded set-up in one process, so `make run` starts faster than with three.
    if args.prepare and (
        cmd_migrate(config, args) or cmd_demo(config, argparse.Namespace(if_empty=True))
    ):
        return 2
    configure_logging(json_lines=config.log_json)
    app = create_app(config, gateway=gateway)
    print(f"Homeline serving on {config.public_url}/ (Ctrl-C stops)", flush=True)
    asyncio.run(serve(app, config))
    return 0


def cmd_roster_import(config: Config, args: argparse.Namespace) -> int:
    from server.services.roster import check_roster_csv, do_import_roster

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2

    async def job(svc: Services) -> int:
        rows = check_roster_csv(text)
        result = await do_import_roster(svc, facility_id=args.facility, rows=rows)
        print(f"{result.created} residents added, {result.updated} updated")
        return 0

    return _run(config, job)


def cmd_staff_add(config: Config, args: argparse.Namespace) -> int:
    from server.services.roster import do_add_staff

    password = os.environ.get("HOMELINE_STAFF_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password for the new staff member: ")
            if getpass.getpass("Again: ") != password:
                print("error: the passwords do not match", file=sys.stderr)
                return 2

    async def job(svc: Services) -> int:
        staff_id = await do_add_staff(
            svc,
            username=args.username,
            password=password,
            display_name=args.name or args.username,
            role=StaffRole(args.role),
            facility_id=args.facility,
        )
        print(f"staff member {args.username} added (id {staff_id}, {args.role})")
        return 0

    return _run(config, job)


def cmd_tariff_check(config: Config, args: argparse.Namespace) -> int:
    from server.domain.ratecaps import ProfileError, load_profile
    from server.services.tariffs import rate_cap_report

    try:
        profile = load_profile(Path(args.profile) if args.profile else None)
    except ProfileError as exc:
        print(f"error: rate-cap profile: {exc}", file=sys.stderr)
        return 2

    async def job(svc: Services) -> int:
        report = await rate_cap_report(svc, profile=profile)
        print(f"Checked against {profile.name}: {profile.title}")
        print(f"Note: {profile.notice}")
        found = 0
        for checked in report:
            t = checked.current
            for v in checked.violations:
                found += 1
                print(
                    f"{t.facility_name} (facility {t.facility_id}, {t.tariff.size_class}): "
                    f"{v.field}: {v.message} [{v.severity.value}]"
                )
        print(f"{found} violation(s) in {len(report)} facilities.")
        return 1 if found else 0

    return _run(config, job)


def cmd_tariff_show(config: Config, args: argparse.Namespace) -> int:
    from server.services.tariffs import facility_tariff

    async def job(svc: Services) -> int:
        found = await facility_tariff(svc, facility_id=args.facility)
        print(json.dumps(found.tariff.to_json(), indent=2))
        return 0

    return _run(config, job)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeline",
        description="Homeline: messaging and video visits for correctional facilities.",
        epilog="Settings come from the environment (DATABASE_URL, REDIS_URL, SMTP_HOST, "
        "PUBLIC_URL, SECRET_KEY, ...); see the README.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="serve HTTP and socket.io",
        description="Serve HTTP and socket.io until interrupted; SIGTERM shuts down gracefully.",
    )
    serve.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 8080)")
    serve.add_argument(
        "--prepare",
        action="store_true",
        help="first apply migrations and seed the demo facility if the database is empty "
        "(what `make run` does)",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Bring the database schema up to date.",
    )
    migrate.set_defaults(func=cmd_migrate)

    demo = sub.add_parser(
        "demo",
        help="seed the demo facility",
        description="Create a demo facility with residents and staff, and "
        "print their sign-in details.",
    )
    demo.add_argument(
        "--if-empty", action="store_true", help="only seed when the database has no facility yet"
    )
    demo.set_defaults(func=cmd_demo)

    roster = sub.add_parser(
        "roster", help="manage a facility's residents", description="Manage a facility's residents."
    )
    roster_sub = roster.add_subparsers(dest="roster_command", required=True, metavar="ACTION")
    imp = roster_sub.add_parser(
        "import",
        help="import residents from a CSV file",
        description="Create or update residents from a CSV file with the header "
        "resident_number,first_name,last_name,date_of_birth,housing_unit,pin. "
        "Nothing is imported if any line is wrong.",
    )
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--facility", type=int, required=True, help="the facility's id")
    imp.set_defaults(func=cmd_roster_import)

    staff = sub.add_parser(
        "staff", help="manage staff members", description="Manage staff members."
    )
    staff_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = staff_sub.add_parser(
        "add",
        help="add a staff member",
        description="Add a staff member. The password is read from HOMELINE_STAFF_PASSWORD, "
        "standard input, or a prompt.",
    )
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    add.add_argument("--facility", type=int, help="facility id (optional for support)")
    add.add_argument("--name", help="display name (default: the username)")
    add.set_defaults(func=cmd_staff_add)

    tariff = sub.add_parser(
        "tariff",
        help="check and show facilities' tariffs",
        description="Check and show facilities' prices and fees.",
    )
    tariff_sub = tariff.add_subparsers(dest="tariff_command", required=True, metavar="ACTION")
    check = tariff_sub.add_parser(
        "check",
        help="check every facility's tariff against a rate-cap profile",
        description="Compare every facility's tariff with a rate-cap profile (by default the "
        "FCC 2024 per-minute caps and ban on ancillary fees shipped with Homeline, as adopted "
        "in July 2024: verify current values) and list each violation. Exits 1 if there is "
        "any, 0 if there is none, 2 on error.",
    )
    check.add_argument(
        "--profile",
        metavar="FILE",
        help="a rate-cap profile JSON file (default: the packaged FCC 2024 profile)",
    )
    check.set_defaults(func=cmd_tariff_check)
    show = tariff_sub.add_parser(
        "show",
        help="print a facility's tariff as JSON",
        description="Print a facility's whole tariff as JSON (the body that "
        "PUT /api/v1/staff/facilities/{id}/tariff accepts).",
    )
    show.add_argument("--facility", type=int, required=True, help="the facility's id")
    show.set_defaults(func=cmd_tariff_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = Config.from_env()
    func: Callable[[Config, argparse.Namespace], int] = args.func
    return func(config, args)


if __name__ == "__main__":
    raise SystemExit(main())
