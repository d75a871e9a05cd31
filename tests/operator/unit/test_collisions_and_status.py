"""Collision rules (which Portal holds a hostname, bucket or slug), the Paused summary and the
ownership records in status, without a cluster."""

from __future__ import annotations

from dokportal_operator import collisions, conditions
from dokportal_operator import constants as c
from dokportal_operator.conditions import Condition
from dokportal_operator.ownership import Owned
from tests.operator.unit.helpers import BODY


def _claims(
    *portals: tuple[str, str, dict[str, object]],
) -> dict[tuple[str, str], list[collisions.Claim]]:
    table: dict[tuple[str, str], list[collisions.Claim]] = {}
    for name, created, spec in portals:
        meta = {"creationTimestamp": created, "uid": f"uid-{name}"}
        for key, claim in collisions.index(name, spec, meta).items():
            table.setdefault(key, []).append(claim)
    return table


def _spec(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {**BODY["spec"], **changes}
    return spec


def test_the_earlier_portal_holds_the_hostname_and_the_later_one_is_told() -> None:
    first = ("bensheim", "2026-01-01T00:00:00Z", _spec())
    later = ("einhausen", "2026-02-01T00:00:00Z", _spec())
    table = _claims(first, later)
    assert collisions.conflicts("bensheim", "uid-bensheim", first[1], first[2], table) == []
    found = collisions.conflicts("einhausen", "uid-einhausen", later[1], later[2], table)
    assert [item.reason for item in found] == ["HostnameTaken"]
    assert found[0].other == "bensheim" and "Portal bensheim" in found[0].message


def test_buckets_collide_only_at_the_same_endpoint_and_generated_ones_never() -> None:
    s3 = dict(BODY["spec"]["storage"]["s3"])
    one = _spec(hostname="a.example.org", storage={"s3": {**s3, "bucket": "jc"}})
    same = _spec(
        hostname="b.example.org",
        storage={"s3": {**s3, "endpoint": "HTTP://s3.internal:8333/", "bucket": "jc"}},
    )
    elsewhere = _spec(
        hostname="c.example.org",
        storage={"s3": {**s3, "endpoint": "http://other:8333", "bucket": "jc"}},
    )
    generated = _spec(hostname="d.example.org")
    table = _claims(("a", "1", one), ("b", "2", same), ("c", "3", elsewhere), ("d", "4", generated))
    assert [x.reason for x in collisions.conflicts("b", "uid-b", "2", same, table)] == [
        "BucketTaken"
    ]
    assert collisions.conflicts("c", "uid-c", "3", elsewhere, table) == []
    assert collisions.conflicts("d", "uid-d", "4", generated, table) == []


def test_a_new_portal_is_refused_whoever_is_older() -> None:
    """At admission the new Portal has no creation time yet: any holder wins."""
    table = _claims(("gorxheim", "2026-03-01T00:00:00Z", _spec(hostname="g.example.org")))
    spec = _spec(hostname="x.example.org", tenant={"displayName": "X", "slug": "gorxheim"})
    found = collisions.conflicts("abtsteinach", "", "", spec, table, new=True)
    assert [item.reason for item in found] == ["SlugTaken"]


def test_replicas_zero_reads_paused_not_ready() -> None:
    parts = {
        kind: Condition(kind, True, "Fine", "fine")
        for kind in (c.KEYS_READY, c.STORAGE_READY, c.DATABASE_READY, c.WORKLOAD_AVAILABLE)
    }
    summary = {cond.type: cond for cond in conditions.summarise(parts, [], [], paused=True)}
    assert (summary[c.READY].ok, summary[c.READY].reason) == (False, "Paused")
    assert summary[c.STALLED].ok is False
    merged = conditions.merge([], summary.values(), 1)
    assert conditions.phase(merged) == ("Paused", "")


def test_ownership_records_survive_a_round_trip_and_keep_their_first_time() -> None:
    owned = (
        Owned()
        .with_namespace("ns-uid", "t1")
        .with_bucket("b", "http://s3", "m1", "t1")
        .with_keyring(("k-1",), "sha256:ab", "t1")
        .with_session("sha256:cd", "t1")
    )
    again = Owned.from_status({"owned": owned.to_status()})
    assert again == owned
    later = again.with_namespace("ns-uid", "t2").with_keyring(("k-1", "k-2"), "sha256:ef", "t2")
    assert later.namespace_since == "t1" and later.keyring_since == "t1"
    assert later.with_bucket("b", "http://s3", "m2", "t3").bucket_since == "t3"
    # A status written before these records: the primary key id still says a keyring existed.
    assert Owned.from_status({"primaryKeyId": "k-old"}).had_keyring
