"""Payment processors. `PaymentGateway` is what a real processor implements (see the README);
`SandboxGateway` is the development and test implementation, clearly not a real one.

The sandbox behaves like a card processor's test mode: fixed test tokens succeed, decline or
time out, and it honours idempotency keys the way real processors do, so a time-out followed
by a retry with the same key finds the first authorisation instead of charging twice.
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from server.errors import DomainError, PaymentRequired

SANDBOX_OK = "tok_sandbox_ok"
SANDBOX_DECLINE = "tok_sandbox_decline"
# The processor charged, but its answer was lost on the way back (the dangerous case).
SANDBOX_TIMEOUT_AFTER_CHARGE = "tok_sandbox_timeout"
# The processor never saw the request.
SANDBOX_UNREACHABLE = "tok_sandbox_unreachable"
SANDBOX_TOKENS = (SANDBOX_OK, SANDBOX_DECLINE, SANDBOX_TIMEOUT_AFTER_CHARGE, SANDBOX_UNREACHABLE)


class PaymentDeclined(PaymentRequired):
    code = "payment_declined"


class GatewayTimeout(DomainError):
    """The processor did not answer. Retrying with the same idempotency key is always safe."""

    status = 502
    code = "payment_gateway_timeout"


@dataclass(frozen=True)
class Authorisation:
    reference: str  # the processor's id, kept on the ledger transaction
    amount_cents: int


class PaymentGateway(Protocol):
    name: str

    async def authorise(
        self, *, amount_cents: int, token: str, idempotency_key: str
    ) -> Authorisation:
        """Reserve the money on the payer's card, or raise PaymentDeclined / GatewayTimeout."""
        ...

    async def capture(self, authorisation: Authorisation) -> None:
        """Take the authorised money."""
        ...

    async def refund(self, *, reference: str, amount_cents: int, idempotency_key: str) -> str:
        """Send money back to the card of an earlier capture; the refund's reference."""
        ...


class SandboxGateway:
    """In-memory test processor. Never moves real money; refuses tokens it does not know."""

    name = "sandbox"

    def __init__(self) -> None:
        self._by_key: dict[str, Authorisation] = {}
        self.captured: dict[str, int] = {}
        self.refunded: dict[str, int] = {}
        self.authorise_calls = 0

    async def authorise(
        self, *, amount_cents: int, token: str, idempotency_key: str
    ) -> Authorisation:
        self.authorise_calls += 1
        earlier = self._by_key.get(idempotency_key)
        if earlier is not None:
            return earlier
        if token == SANDBOX_DECLINE:
            raise PaymentDeclined("The card was declined. Nothing was charged.")
        if token == SANDBOX_UNREACHABLE:
            raise GatewayTimeout(
                "The payment processor did not answer. Nothing was charged; try again."
            )
        if token not in (SANDBOX_OK, SANDBOX_TIMEOUT_AFTER_CHARGE):
            raise PaymentDeclined(
                "Unknown payment token (the sandbox accepts only its test tokens)."
            )
        auth = Authorisation(reference=f"sbx_{secrets.token_hex(8)}", amount_cents=amount_cents)
        self._by_key[idempotency_key] = auth
        if token == SANDBOX_TIMEOUT_AFTER_CHARGE:
            # Keyed by reference like `capture`, so the retry's capture finds it: one charge.
            self.captured[auth.reference] = amount_cents
            raise GatewayTimeout(
                "The payment processor did not answer in time. Try again: the same request "
                "will never be charged twice."
            )
        return auth

    async def capture(self, authorisation: Authorisation) -> None:
        self.captured.setdefault(authorisation.reference, authorisation.amount_cents)

    async def refund(self, *, reference: str, amount_cents: int, idempotency_key: str) -> str:
        self.refunded[idempotency_key] = amount_cents
        return f"sbx_refund_{secrets.token_hex(6)}"


def load_gateway(
    spec: str, config: object, *, public_url: str, allow_sandbox: bool
) -> PaymentGateway:
    """The gateway named by PAYMENT_GATEWAY. The sandbox is refused for a server reachable
    from elsewhere unless ALLOW_SANDBOX_PAYMENTS=1, so test tokens never pass for money."""
    if spec == "sandbox":
        host = urlsplit(public_url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1") and not allow_sandbox:
            raise ValueError(
                f"PAYMENT_GATEWAY is the sandbox but PUBLIC_URL ({public_url}) is not this "
                "machine: set PAYMENT_GATEWAY=package.module:factory for a real processor, or "
                "ALLOW_SANDBOX_PAYMENTS=1 for a test installation."
            )
        return SandboxGateway()
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise ValueError("PAYMENT_GATEWAY must be 'sandbox' or 'package.module:factory'.")
    factory = getattr(importlib.import_module(module_name), factory_name)
    gateway: PaymentGateway = factory(config)
    return gateway
