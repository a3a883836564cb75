"""The fee rules and the tariff validation, pure: no app, no database, no event loop."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.money import MAX_CENTS
from server.domain.tariff import (
    DEFAULT_TARIFF,
    Channel,
    FeeTier,
    Quote,
    Tariff,
    check_tariff,
    is_saturday,
    local_day_bounds,
    message_price,
    quote_deposit,
)
from server.errors import FieldErrors

T = DEFAULT_TARIFF
NEW_YORK = "America/New_York"


def refused(field: str, **kwargs: Any) -> str:
    """The sentence `quote_deposit` gives for `field`."""
    with pytest.raises(FieldErrors) as caught:
        quote_deposit(T, **kwargs)
    assert field in caught.value.fields, caught.value.fields
    return caught.value.fields[field]


# Wallets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["family_wallet", "resident_wallet"])
def test_wallet_deposit_of_499_cents_is_refused(kind: str) -> None:
    message = refused("amount_cents", account_kind=kind, channel=Channel.ONLINE, amount_cents=499)
    assert "$5.00" in message


@pytest.mark.parametrize("kind", ["family_wallet", "resident_wallet"])
@pytest.mark.parametrize("channel", list(Channel))
def test_wallet_deposit_of_500_cents_costs_150_by_every_channel(
    kind: str, channel: Channel
) -> None:
    q = quote_deposit(T, account_kind=kind, channel=channel, amount_cents=500)
    assert q == Quote(amount_cents=500, fee_cents=150, total_cents=650)


def test_wallet_minimum_and_fee_come_from_the_tariff() -> None:
    cheap = replace(T, wallet_deposit_min_cents=100, wallet_deposit_fee_cents=0)
    q = quote_deposit(cheap, account_kind="family_wallet", channel="online", amount_cents=100)
    assert q == Quote(100, 0, 100)


# Calling accounts --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ppc", "pin_debit"])
@pytest.mark.parametrize(
    ("channel", "fee"),
    [
        (Channel.ONLINE, 300),
        (Channel.KIOSK, 300),
        (Channel.PHONE, 300),
        (Channel.OPERATOR, 595),
        (Channel.MAIL, 0),
    ],
)
def test_calling_account_deposit_fee_by_channel(kind: str, channel: Channel, fee: int) -> None:
    q = quote_deposit(T, account_kind=kind, channel=channel, amount_cents=1_000)
    assert q == Quote(1_000, fee, 1_000 + fee)


def test_calling_account_deposit_of_one_cent_is_accepted() -> None:
    q = quote_deposit(T, account_kind="ppc", channel="mail", amount_cents=1)
    assert q == Quote(1, 0, 1)


# Trust -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "amount", "fee"),
    [
        (Channel.ONLINE, 1, 295),
        (Channel.ONLINE, 2_000, 295),
        (Channel.ONLINE, 2_001, 495),
        (Channel.ONLINE, 10_000, 495),
        (Channel.ONLINE, 10_001, 795),
        (Channel.ONLINE, 30_000, 795),
        (Channel.ONLINE, 30_001, 995),
        (Channel.ONLINE, 100_000, 995),
        (Channel.KIOSK, 2_000, 195),
        (Channel.KIOSK, 2_001, 395),
        (Channel.PHONE, 100_000, 1095),
        (Channel.OPERATOR, 30_000, 995),
        (Channel.OPERATOR, 30_001, 1295),
        (Channel.MAIL, 100_000, 0),
    ],
)
def test_trust_deposit_fee_tiers_at_their_boundaries(
    channel: Channel, amount: int, fee: int
) -> None:
    q = quote_deposit(T, account_kind="trust", channel=channel, amount_cents=amount)
    assert q == Quote(amount, fee, amount + fee)


@pytest.mark.parametrize("channel", list(Channel))
def test_trust_deposit_above_the_top_tier_is_refused(channel: Channel) -> None:
    message = refused("amount_cents", account_kind="trust", channel=channel, amount_cents=100_001)
    assert "$1,000.00" in message


# Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1, -500])
def test_deposit_of_zero_or_less_is_refused(amount: int) -> None:
    message = refused("amount_cents", account_kind="ppc", channel="online", amount_cents=amount)
    assert "more than zero" in message


def test_deposit_above_max_cents_is_refused() -> None:
    ok = quote_deposit(T, account_kind="family_wallet", channel="mail", amount_cents=MAX_CENTS)
    assert ok.amount_cents == MAX_CENTS
    message = refused(
        "amount_cents", account_kind="family_wallet", channel="mail", amount_cents=MAX_CENTS + 1
    )
    assert "$1,000,000.00" in message


@pytest.mark.parametrize("amount", [5.5, 500.0, True, "500", None])
def test_deposit_amount_must_be_whole_cents(amount: Any) -> None:
    message = refused("amount_cents", account_kind="ppc", channel="online", amount_cents=amount)
    assert "whole number" in message


def test_deposit_by_unknown_channel_is_refused() -> None:
    message = refused("channel", account_kind="ppc", channel="carrier_pigeon", amount_cents=500)
    assert "online" in message and "mail" in message


def test_deposit_to_unknown_kind_of_account_is_refused() -> None:
    refused("account", account_kind="system", channel="online", amount_cents=500)


def test_every_problem_of_a_deposit_is_reported_at_once() -> None:
    with pytest.raises(FieldErrors) as caught:
        quote_deposit(T, account_kind="nope", channel="nope", amount_cents=0)
    assert set(caught.value.fields) == {"account", "channel", "amount_cents"}


def test_channel_missing_from_a_stored_tariff_is_refused_not_a_crash() -> None:
    partial = replace(T, calling_deposit_fee_cents={"online": 300}, trust_deposit_fee_tiers={})
    assert "kiosk" in refused_with(partial, "ppc", Channel.KIOSK)
    assert "mail" in refused_with(partial, "trust", Channel.MAIL)


def refused_with(tariff: Tariff, kind: str, channel: Channel) -> str:
    with pytest.raises(FieldErrors) as caught:
        quote_deposit(tariff, account_kind=kind, channel=channel, amount_cents=500)
    return caught.value.fields["channel"]


@given(
    kind=st.sampled_from(["family_wallet", "resident_wallet", "ppc", "pin_debit", "trust"]),
    channel=st.sampled_from(list(Channel)),
    amount=st.integers(min_value=-(10**9), max_value=10**9),
)
def test_a_quote_is_never_negative_and_adds_up(kind: str, channel: Channel, amount: int) -> None:
    try:
        q = quote_deposit(T, account_kind=kind, channel=channel, amount_cents=amount)
    except FieldErrors as exc:
        assert set(exc.fields) == {"amount_cents"}
        return
    assert 0 < q.amount_cents == amount <= MAX_CENTS
    assert q.fee_cents >= 0
    assert q.total_cents == q.amount_cents + q.fee_cents


# Messages and Saturdays --------------------------------------------------------------------


def test_on_saturday_the_first_two_messages_are_free_and_the_third_is_paid() -> None:
    prices = [message_price(T, sent_today_by_sender=n, is_saturday_local=True) for n in range(4)]
    assert prices == [0, 0, 50, 50]


def test_on_other_days_every_message_is_paid() -> None:
    assert message_price(T, sent_today_by_sender=0, is_saturday_local=False) == 50


def test_free_message_count_comes_from_the_tariff() -> None:
    none_free = replace(T, free_saturday_messages=0, message_cents=35)
    assert message_price(none_free, sent_today_by_sender=0, is_saturday_local=True) == 35


def test_negative_count_of_sent_messages_is_a_bug() -> None:
    with pytest.raises(ValueError):
        message_price(T, sent_today_by_sender=-1, is_saturday_local=True)


def test_saturday_2330_in_new_york_is_sunday_in_utc_but_saturday_for_the_facility() -> None:
    now = datetime(2026, 11, 22, 4, 30, tzinfo=UTC)  # Sunday 04:30 UTC = Sat 23:30 EST
    assert now.weekday() == 6
    assert is_saturday(now, NEW_YORK)


def test_saturday_in_utc_can_still_be_friday_in_new_york() -> None:
    now = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # Saturday 03:00 UTC = Fri 22:00 EST
    assert now.weekday() == 5
    assert not is_saturday(now, NEW_YORK)
    assert is_saturday(now, "UTC")


def test_saturday_evening_in_utc_is_already_sunday_in_tokyo() -> None:
    now = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # Saturday UTC = Sunday 08:30 JST
    assert is_saturday(now, "UTC")
    assert not is_saturday(now, "Asia/Tokyo")


def test_saturday_check_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        is_saturday(datetime(2026, 11, 21, 12, 0), NEW_YORK)


def test_local_day_bounds_follow_the_facility_and_daylight_saving() -> None:
    start, end = local_day_bounds(datetime(2026, 11, 22, 4, 30, tzinfo=UTC), NEW_YORK)
    assert (start, end) == (
        datetime(2026, 11, 21, 5, 0, tzinfo=UTC),
        datetime(2026, 11, 22, 5, 0, tzinfo=UTC),
    )
    # 1 November 2026: clocks go back, the day is 25 hours long.
    start, end = local_day_bounds(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), NEW_YORK)
    assert (end - start).total_seconds() == 25 * 3600


# check_tariff ------------------------------------------------------------------------------


def valid() -> dict[str, Any]:
    return copy.deepcopy(T.to_json())


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(FieldErrors) as caught:
        check_tariff(data)
    return caught.value.fields


def test_default_tariff_passes_its_own_check() -> None:
    assert check_tariff(valid()) == T


def test_checked_tariff_round_trips_through_json() -> None:
    data = valid()
    data["message_cents"] = 35
    data["trust_deposit_fee_tiers"]["mail"] = [{"up_to_cents": 5_000, "fee_cents": 100}]
    tariff = check_tariff(data)
    assert tariff.message_cents == 35
    assert tariff.trust_deposit_fee_tiers["mail"] == (FeeTier(5_000, 100),)
    assert Tariff.from_json(tariff.to_json()) == tariff


def test_channel_order_of_a_submission_does_not_matter() -> None:
    data = valid()
    data["calling_deposit_fee_cents"] = dict(reversed(data["calling_deposit_fee_cents"].items()))
    assert list(check_tariff(data).calling_deposit_fee_cents) == [c.value for c in Channel]


def test_missing_and_unknown_fields_are_named() -> None:
    data = valid()
    del data["photo_cents"]
    data["photo_price"] = 100
    assert problems(data) == {
        "photo_cents": "This field is required.",
        "photo_price": "Unknown field.",
    }


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("message_cents", -1, "between 0 and 1000"),
        ("message_cents", 1_001, "between 0 and 1000"),
        ("message_cents", 50.0, "whole number"),
        ("message_cents", True, "whole number"),
        ("free_saturday_messages", 101, "between 0 and 100."),
        ("photo_cents", "100", "whole number"),
        ("remote_visit_cents_per_minute", 501, "$5.00"),
        ("wallet_deposit_fee_cents", -150, "between"),
        ("refund_approval_threshold_cents", 1_000_001, "$10,000.00"),
        ("size_class", "huge_jail", "very_small_jail"),
        ("size_class", 3, "prison"),
    ],
)
def test_each_setting_outside_its_range_is_refused(field: str, value: Any, words: str) -> None:
    data = valid()
    data[field] = value
    found = problems(data)
    assert list(found) == [field]
    assert words in found[field]


@pytest.mark.parametrize(("field", "limit"), [("message_cents", 1_000), ("photo_cents", 2_000)])
def test_settings_at_their_limits_are_accepted(field: str, limit: int) -> None:
    data = valid()
    data[field] = limit
    assert getattr(check_tariff(data), field) == limit
    data[field] = 0
    assert getattr(check_tariff(data), field) == 0


def test_every_channel_needs_a_calling_fee_and_no_other_key() -> None:
    data = valid()
    del data["calling_deposit_fee_cents"]["mail"]
    data["calling_deposit_fee_cents"]["fax"] = 100
    data["calling_deposit_fee_cents"]["online"] = -5
    assert problems(data) == {
        "calling_deposit_fee_cents.mail": "Every channel needs an entry.",
        "calling_deposit_fee_cents.fax": "Unknown channel.",
        "calling_deposit_fee_cents.online": ("Must be between 0 and 2000 cents ($0.00 to $20.00)."),
    }


def test_calling_fees_must_be_an_object() -> None:
    data = valid()
    data["calling_deposit_fee_cents"] = [300, 300]
    assert list(problems(data)) == ["calling_deposit_fee_cents"]


def test_trust_tiers_must_rise_strictly() -> None:
    data = valid()
    data["trust_deposit_fee_tiers"]["online"] = [
        {"up_to_cents": 2_000, "fee_cents": 295},
        {"up_to_cents": 2_000, "fee_cents": 495},
        {"up_to_cents": 1_000, "fee_cents": 795},
    ]
    found = problems(data)
    assert set(found) == {
        "trust_deposit_fee_tiers.online.1.up_to_cents",
        "trust_deposit_fee_tiers.online.2.up_to_cents",
    }
    assert "more than 2000" in found["trust_deposit_fee_tiers.online.1.up_to_cents"]


def test_trust_tier_shapes_and_ranges() -> None:
    data = valid()
    tiers = data["trust_deposit_fee_tiers"]
    tiers["online"] = []
    tiers["kiosk"] = [{"up_to_cents": 2_000}]
    tiers["phone"] = [{"up_to_cents": MAX_CENTS + 1, "fee_cents": 5_001}]
    tiers["operator"] = [{"up_to_cents": 0, "fee_cents": 0}]
    tiers["mail"] = [{"up_to_cents": n + 1, "fee_cents": 0} for n in range(21)]
    tiers["cash"] = [{"up_to_cents": 100, "fee_cents": 0}]
    found = problems(data)
    assert set(found) == {
        "trust_deposit_fee_tiers.online",
        "trust_deposit_fee_tiers.kiosk.0",
        "trust_deposit_fee_tiers.phone.0.up_to_cents",
        "trust_deposit_fee_tiers.phone.0.fee_cents",
        "trust_deposit_fee_tiers.operator.0.up_to_cents",
        "trust_deposit_fee_tiers.mail",
        "trust_deposit_fee_tiers.cash",
    }
    assert "at most 20 tiers" in found["trust_deposit_fee_tiers.mail"]


def test_every_channel_needs_trust_tiers() -> None:
    data = valid()
    del data["trust_deposit_fee_tiers"]["kiosk"]
    assert problems(data) == {"trust_deposit_fee_tiers.kiosk": "Every channel needs an entry."}


def test_size_classes_can_come_from_another_profile() -> None:
    data = valid()
    data["size_class"] = "regional_centre"
    assert check_tariff(data, size_classes={"regional_centre"}).size_class == "regional_centre"


def test_public_json_leaves_out_internal_settings() -> None:
    public = T.public_json()
    assert "refund_approval_threshold_cents" not in public
    assert "size_class" not in public
    assert public["wallet_deposit_fee_cents"] == 150
    assert public["calling_deposit_fee_cents"]["operator"] == 595
