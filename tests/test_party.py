"""A party (family member, resident, staff member) as a pure value: its string, its room, its
wallet, and whose a ledger account is. No app, no event loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.ledger import AccountKind, AccountRef, SystemCode, system
from server.domain.party import Party, PartyKind

ids = st.integers(min_value=1, max_value=2**63 - 1)
parties = st.builds(Party, st.sampled_from(PartyKind), ids)
phones = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
accounts = st.one_of(
    st.builds(lambda i: AccountRef(AccountKind.FAMILY_WALLET, family_account_id=i), ids),
    st.builds(lambda i, p: AccountRef(AccountKind.PPC, family_account_id=i, phone=p), ids, phones),
    st.builds(
        lambda k, i: AccountRef(k, resident_id=i),
        st.sampled_from([AccountKind.RESIDENT_WALLET, AccountKind.PIN_DEBIT, AccountKind.TRUST]),
        ids,
    ),
    st.builds(system, st.sampled_from(SystemCode)),
)


def test_a_party_is_written_kind_colon_id() -> None:
    assert str(Party.family(12)) == "family:12"
    assert str(Party.resident(7)) == "resident:7"
    assert str(Party(PartyKind.STAFF, 3)) == "staff:3"


def test_the_room_is_the_one_pushes_have_always_gone_to() -> None:
    assert Party.family(12).room == "family:12"
    assert Party.resident(7).room == "resident:7"
    assert Party(PartyKind.STAFF, 3).room == "staff:3"


@given(parties)
def test_a_party_reads_back_from_its_string(party: Party) -> None:
    assert Party.parse(str(party)) == party
    assert str(Party.parse(str(party))) == str(party)


def test_a_stored_kind_string_makes_the_same_party() -> None:
    # Message and event rows hold the kind as a plain string.
    stored = Party("family", 12)  # type: ignore[arg-type]
    assert stored == Party.family(12)
    assert hash(stored) == hash(Party.family(12))
    assert stored.kind is PartyKind.FAMILY


@given(parties, parties)
def test_parties_sort_by_kind_then_id(a: Party, b: Party) -> None:
    # The event stream locks the streams of one transaction in this order.
    assert (a < b) == ((a.kind.value, a.id) < (b.kind.value, b.id))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "family",
        "family:",
        ":12",
        "family:12:3",
        "family:0",
        "family:012",
        "family:-1",
        "family:+1",
        "family: 1",
        "family:1 ",
        "family:\uff11\uff12",  # full-width digits
        "family:1.5",
        "Family:12",
        "visitor:12",
        "family_wallet:12",
        "system:fee_revenue",
    ],
)
def test_a_string_that_is_no_party_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Party.parse(text)


@pytest.mark.parametrize("bad_id", [0, -1, True])
def test_a_party_needs_a_positive_id(bad_id: int) -> None:
    with pytest.raises(ValueError):
        Party.family(bad_id)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        Party("visitor", 1)  # type: ignore[arg-type]


def test_family_and_resident_wallets_are_the_ledgers() -> None:
    assert Party.family(12).wallet.owner_key == "family_wallet:12"
    assert Party.resident(7).wallet.owner_key == "resident_wallet:7"


def test_staff_have_no_wallet() -> None:
    with pytest.raises(ValueError):
        _ = Party(PartyKind.STAFF, 3).wallet


@given(accounts)
def test_an_owner_key_reads_back_as_its_account(account: AccountRef) -> None:
    assert AccountRef.parse(account.owner_key) == account


@pytest.mark.parametrize(
    ("owner_key", "owner"),
    [
        ("family_wallet:12", Party.family(12)),
        ("ppc:12:+15551234567", Party.family(12)),
        ("resident_wallet:7", Party.resident(7)),
        ("pin_debit:7", Party.resident(7)),
        ("trust:7", Party.resident(7)),
        ("system:fee_revenue", None),
        ("system:payment_clearing", None),
    ],
)
def test_an_account_belongs_to_its_party(owner_key: str, owner: Party | None) -> None:
    assert Party.owning_key(owner_key) == owner


@given(st.sampled_from([PartyKind.FAMILY, PartyKind.RESIDENT]), ids)
def test_a_party_owns_its_wallet(kind: PartyKind, id: int) -> None:
    party = Party(kind, id)
    assert Party.owning(party.wallet) == party
    assert Party.owning_key(party.wallet.owner_key) == party


@pytest.mark.parametrize(
    "owner_key",
    [
        "",
        "family_wallet",
        "family_wallet:",
        "family_wallet:x",
        "family_wallet:0",
        "family_wallet:012",
        "family_wallet:-3",
        "family:12",  # a party, not an account
        "resident_wallet:7:8",
        "ppc:12",
        "ppc:12:",
        "ppc::+15551234567",
        "system:",
        "system:nonsense",
        "savings:1",
    ],
)
def test_a_string_that_is_no_account_is_refused(owner_key: str) -> None:
    with pytest.raises(ValueError):
        AccountRef.parse(owner_key)
    with pytest.raises(ValueError):
        Party.owning_key(owner_key)
