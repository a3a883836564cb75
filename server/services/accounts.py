"""Family accounts: sign-up, activation, password reset.

Sign-up, resend and reset answer the same way, and in the same time, whether or not the e-mail
is known: the answer waits only for what is the same on every path (the rate limits, the
form's rules, the password hash, the username check), and everything that depends on the
address (looking it up, opening the account or issuing a code, writing the mail) runs after
the answer, as a job on the mail queue. What differs is only the mail the address's owner gets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.signup import (
    SignupForm,
    check_signup_form,
    parse_date_of_birth,
    password_problem,
)
from server.errors import BadRequest, FieldErrors, NotFound
from server.services.context import Services
from server.services.ratelimit import (
    ACTIVATE_PER_ADDRESS,
    ACTIVATE_PER_EMAIL,
    MAIL_PER_ADDRESS,
    MAIL_PER_EMAIL,
    SIGNUP_PER_ADDRESS,
    enforce,
)
from server.services.sessions import end_sessions_in
from server.services.tokens import digest, new_code, new_token, normalise_code
from server.storage.models import FamilyAccount, OneTimeCode, Session

ACTIVATION = "activation"
PASSWORD_RESET = "password_reset"
BAD_CODE = "This code or link is not valid. It may have expired or been used already."


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    email: str
    first_name: str
    last_name: str


def check_signup(svc: Services, form: SignupForm) -> None:
    errors = check_signup_form(form, today=svc.clock.now().date())
    if errors:
        raise FieldErrors(errors)


async def do_signup(svc: Services, form: SignupForm, *, address: str) -> None:
    """Open an unactivated account and mail its activation code and link, after the answer.

    A known e-mail gets a "you already have an account" mail instead, and the caller cannot
    tell the difference, by the answer or by its time: the password is hashed on every path
    and the e-mail is looked at only after the answer. A taken username is reported (usernames
    are not secret), and checked first: otherwise signing up with a username known to be taken
    would tell, by 422 versus 202, whether the e-mail has an account.
    """
    await enforce(svc.limiter, (SIGNUP_PER_ADDRESS, address))
    check_signup(svc, form)
    password_hash = await svc.hasher.hash(form.password)
    now = svc.clock.now()
    born, _ = parse_date_of_birth(form.date_of_birth, today=now.date())
    assert born is not None
    async with svc.db.read() as tx:
        if await tx.scalar(
            select(FamilyAccount.id).where(FamilyAccount.username_key == form.username.lower())
        ):
            raise FieldErrors({"username": "This username is taken; choose another."})
    # The job keeps the hash, not the password.
    kept = replace(form, password="", password_confirm="")
    svc.mail.defer(
        functools.partial(_open_account, svc, kept, born=born, password_hash=password_hash, now=now)
    )


async def _open_account(
    svc: Services, form: SignupForm, *, born: date, password_hash: str, now: datetime
) -> None:
    """Sign-up's job, after the answer: the account and its activation mail, or the "you
    already have an account" mail to a known address."""
    email = form.email.strip()
    try:
        async with svc.db.transaction() as tx:
            existing = await _account_by_email(tx, email) is not None
            if not existing:
                account = _new_account(form, email=email, born=born, password_hash=password_hash)
                account.created_at = account.terms_accepted_at = now
                tx.add(account)
                await tx.flush()
                code, token = await _issue(
                    svc, tx, account_id=account.id, purpose=ACTIVATION, now=now
                )
    except IntegrityError:
        # Another sign-up took the username or the e-mail since the answer's check.
        async with svc.db.read() as tx:
            existing = await _account_by_email(tx, email) is not None
        if not existing:
            _mail_username_taken(svc, to=email, form=form)
            return
    if existing:
        svc.mail.enqueue(
            svc.mail.compose(
                to=email,
                subject="Someone tried to open a Homeline account with your e-mail",
                text=(
                    "Somebody (perhaps you) tried to open a new Homeline account with this "
                    "e-mail address, which already has an account.\n\n"
                    f"To sign in, go to {svc.config.public_url}/#/login\n"
                    f"Forgot your password? {svc.config.public_url}/#/forgot\n\n"
                    "If this was not you, you can ignore this message.\n"
                ),
            )
        )
    else:
        _mail_activation(svc, to=email, first_name=form.first_name, code=code, token=token)


def _mail_username_taken(svc: Services, *, to: str, form: SignupForm) -> None:
    svc.mail.enqueue(
        svc.mail.compose(
            to=to,
            subject="Your Homeline account could not be opened",
            text=(
                f"Hello {form.first_name.strip()},\n\n"
                f"Someone else took the username {form.username} a moment before your account "
                "could be opened, so it was not opened. Please sign up again with another "
                f"username: {svc.config.public_url}/#/signup\n"
            ),
        )
    )


def _new_account(form: SignupForm, *, email: str, born: date, password_hash: str) -> FamilyAccount:
    return FamilyAccount(
        username=form.username,
        username_key=form.username.lower(),
        email=email,
        email_key=email.lower(),
        password_hash=password_hash,
        first_name=form.first_name.strip(),
        last_name=form.last_name.strip(),
        address_line1=form.address_line1.strip(),
        address_line2=form.address_line2.strip(),
        city=form.city.strip(),
        state=form.state.strip().upper() if form.country.upper() == "US" else form.state.strip(),
        postal_code=form.postal_code.strip(),
        country=form.country.upper(),
        date_of_birth=born,
        gender=form.gender,
        status="pending_activation",
        activated_at=None,
    )


async def _account_by_email(tx: AsyncSession, email: str) -> FamilyAccount | None:
    return await tx.scalar(
        select(FamilyAccount).where(FamilyAccount.email_key == email.strip().lower())
    )


async def _issue(
    svc: Services, tx: AsyncSession, *, account_id: int, purpose: str, now: datetime
) -> tuple[str, str]:
    """A fresh code and link token, issued at `now` (when the request was answered); earlier
    unused ones of the same purpose stop working."""
    ttl = (
        svc.config.activation_ttl_seconds if purpose == ACTIVATION else svc.config.reset_ttl_seconds
    )
    await tx.execute(
        delete(OneTimeCode).where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.used_at.is_(None),
        )
    )
    code, token = new_code(), new_token()
    tx.add(
        OneTimeCode(
            purpose=purpose,
            account_id=account_id,
            code_hash=digest(f"{account_id}:{code}") if purpose == ACTIVATION else None,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            used_at=None,
        )
    )
    return code, token


def _mail_activation(svc: Services, *, to: str, first_name: str, code: str, token: str) -> None:
    hours = svc.config.activation_ttl_seconds // 3600
    svc.mail.enqueue(
        svc.mail.compose(
            to=to,
            subject="Activate your Homeline account",
            text=(
                f"{svc.config.public_url}/activate?token={token}\n\n"
                f"Hello {first_name},\n\n"
                "Open the link above to activate your Homeline account, or enter this code on "
                f"the activation page:\n\n    {code[:4]}-{code[4:]}\n\n"
                f"The code and the link work once, for {hours} hours.\n"
                "If you did not sign up, ignore this message and nothing will happen.\n"
            ),
        )
    )


async def do_activate_with_code(svc: Services, *, email: str, code: str, address: str) -> None:
    await enforce(svc.limiter, (ACTIVATE_PER_EMAIL, email.strip()), (ACTIVATE_PER_ADDRESS, address))
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        account = await _account_by_email(tx, email)
        if account is None:
            raise BadRequest(BAD_CODE, code="invalid_code")
        row = await tx.scalar(
            select(OneTimeCode).where(
                OneTimeCode.account_id == account.id,
                OneTimeCode.purpose == ACTIVATION,
                OneTimeCode.code_hash == digest(f"{account.id}:{normalise_code(code)}"),
            )
        )
        await _consume_activation(tx, row, account, now=now)


async def do_activate_with_link(svc: Services, *, token: str, address: str) -> None:
    await enforce(svc.limiter, (ACTIVATE_PER_ADDRESS, address))
    now = svc.clock.now()
    async with svc.db.transaction() as tx:
        row = await tx.scalar(
            select(OneTimeCode).where(
                OneTimeCode.token_hash == digest(token), OneTimeCode.purpose == ACTIVATION
            )
        )
        account = await tx.get(FamilyAccount, row.account_id) if row else None
        await _consume_activation(tx, row, account, now=now)


async def _consume_activation(
    tx: AsyncSession, row: OneTimeCode | None, account: FamilyAccount | None, *, now: datetime
) -> None:
    if row is None or account is None or row.used_at is not None or row.expires_at <= now:
        raise BadRequest(BAD_CODE, code="invalid_code")
    # Conditional update: two clicks on the same link activate once.
    used = await tx.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise BadRequest(BAD_CODE, code="invalid_code")
    if account.status == "pending_activation":
        account.status = "active"
        account.activated_at = now


async def do_resend_activation(svc: Services, *, email: str, address: str) -> None:
    """Always succeeds from the caller's point of view, in the same time; after the answer,
    mails a new code to a pending account only."""
    await enforce(svc.limiter, (MAIL_PER_EMAIL, email.strip()), (MAIL_PER_ADDRESS, address))
    svc.mail.defer(functools.partial(_resend_activation, svc, email=email, now=svc.clock.now()))


async def _resend_activation(svc: Services, *, email: str, now: datetime) -> None:
    async with svc.db.transaction() as tx:
        account = await _account_by_email(tx, email)
        if account is None or account.status != "pending_activation":
            return
        code, token = await _issue(svc, tx, account_id=account.id, purpose=ACTIVATION, now=now)
        to, first_name = account.email, account.first_name
    _mail_activation(svc, to=to, first_name=first_name, code=code, token=token)


async def do_request_password_reset(svc: Services, *, email: str, address: str) -> None:
    """Always succeeds from the caller's point of view, in the same time; after the answer,
    mails a link to a known address only."""
    await enforce(svc.limiter, (MAIL_PER_EMAIL, email.strip()), (MAIL_PER_ADDRESS, address))
    svc.mail.defer(functools.partial(_mail_reset_link, svc, email=email, now=svc.clock.now()))


async def _mail_reset_link(svc: Services, *, email: str, now: datetime) -> None:
    async with svc.db.transaction() as tx:
        account = await _account_by_email(tx, email)
        if account is None or account.status == "disabled":
            return
        _, token = await _issue(svc, tx, account_id=account.id, purpose=PASSWORD_RESET, now=now)
        to, first_name = account.email, account.first_name
    minutes = svc.config.reset_ttl_seconds // 60
    svc.mail.enqueue(
        svc.mail.compose(
            to=to,
            subject="Reset your Homeline password",
            text=(
                f"{svc.config.public_url}/reset-password?token={token}\n\n"
                f"Hello {first_name},\n\n"
                "Open the link above to choose a new password. It works once, for "
                f"{minutes} minutes. Every device signed in to your account will be signed out.\n"
                "If you did not ask for this, ignore this message: your password is unchanged.\n"
            ),
        )
    )


async def do_confirm_password_reset(
    svc: Services, *, token: str, password: str, address: str
) -> None:
    await enforce(svc.limiter, (ACTIVATE_PER_ADDRESS, address))
    now = svc.clock.now()
    async with svc.db.read() as tx:
        row = await tx.scalar(
            select(OneTimeCode).where(
                OneTimeCode.token_hash == digest(token), OneTimeCode.purpose == PASSWORD_RESET
            )
        )
        account = await tx.get(FamilyAccount, row.account_id) if row else None
    if row is None or account is None or row.used_at is not None or row.expires_at <= now:
        raise BadRequest(BAD_CODE, code="invalid_token")
    problem = password_problem(password, username=account.username, email=account.email)
    if problem:
        raise FieldErrors({"password": problem})
    password_hash = await svc.hasher.hash(password)
    async with svc.db.transaction() as tx:
        used = await tx.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None))
            .values(used_at=now)
        )
        if getattr(used, "rowcount", 0) != 1:
            raise BadRequest(BAD_CODE, code="invalid_token")
        await tx.execute(
            update(FamilyAccount)
            .where(FamilyAccount.id == account.id)
            .values(password_hash=password_hash)
        )
        # A reset ends every session of the account, wherever it is signed in, and every
        # socket opened with one of them.
        await end_sessions_in(
            tx,
            Session.principal_kind == "family",
            Session.principal_id == account.id,
            reason="password_reset",
        )


async def access_account(svc: Services, *, account_id: int) -> AccountView:
    async with svc.db.read() as tx:
        account = await tx.get(FamilyAccount, account_id)
    if account is None:
        raise NotFound("No such account.")
    return AccountView(
        id=account.id,
        username=account.username,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
    )
