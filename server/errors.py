"""Domain errors. Each maps to one HTTP status and a stable machine-readable code.

Services raise these; the error middleware turns them into the contract's shape
`{"error": {"code", "message", "fields"?}}`.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def payload(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class FieldErrors(DomainError):
    """One or more fields are invalid; `fields` maps each field to a sentence for the user."""

    status = 422
    code = "invalid_fields"

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        super().__init__(message or "Some fields need attention.")
        self.fields = dict(fields)

    def payload(self) -> dict[str, object]:
        return {**super().payload(), "fields": self.fields}


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """Also raised for things that exist but are not the actor's: existence never leaks."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PaymentRequired(DomainError):
    status = 402
    code = "payment_required"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMedia(DomainError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts. Try again in {retry_after} seconds.")
        self.retry_after = max(1, retry_after)


class IllegalTransition(Conflict):
    code = "illegal_transition"
