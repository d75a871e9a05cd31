"""Small pure pieces of the staff side: deemed-received dates, backoff, group mapping,
the xdomea manifest schema, mail text and redacted settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from dokportal.export.xdomea import NAMESPACE, schema
from dokportal.lib.errors import Forbidden
from dokportal.mail.messages import compose
from dokportal.mail.services import MAX_BACKOFF, backoff
from dokportal.notices.delivery import deemed_received
from dokportal.settings import MailSettings, OidcSettings, Settings
from dokportal.staff.oidc import map_groups


@pytest.mark.parametrize(
    ("sent", "days", "expected"),
    [
        # Sent on Monday 3 March 2025 (after the reform): the fourth day is Friday.
        (datetime(2025, 3, 3, 9, 0, tzinfo=UTC), 4, "2025-03-07"),
        # The law as of 2020: the third day.
        (datetime(2025, 3, 3, 9, 0, tzinfo=UTC), 3, "2025-03-06"),
        # Late evening UTC is already the next day in Berlin: counted from the office's day.
        (datetime(2025, 3, 3, 23, 30, tzinfo=UTC), 4, "2025-03-08"),
    ],
)
def test_deemed_received_counts_days_in_the_office_time_zone(
    sent: datetime, days: int, expected: str
) -> None:
    assert deemed_received(sent, days, "Europe/Berlin").isoformat() == expected


def test_default_is_the_law_in_force() -> None:
    assert Settings().delivery.deemed_received_days == 4


def test_backoff_doubles_and_is_capped() -> None:
    rules = MailSettings(backoff_seconds=60)
    assert [backoff(rules, n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert backoff(rules, 40) == MAX_BACKOFF


def test_group_mapping_takes_the_highest_role() -> None:
    rules = OidcSettings(role_map="a=caseworker:t1,b=team_lead:t2,c=admin")
    assert map_groups(rules, ["a"]) == ("caseworker", "t1")
    assert map_groups(rules, ["a", "b"]) == ("team_lead", "t2")
    assert map_groups(rules, ["c", "a"]) == ("admin", None)
    with pytest.raises(Forbidden):
        map_groups(rules, ["other"])
    with pytest.raises(ValueError, match="unknown role"):
        OidcSettings(role_map="x=boss")


def test_manifest_schema_rejects_what_we_do_not_emit() -> None:
    broken = etree.fromstring(f'<Uebergabe xmlns="{NAMESPACE}"><Kopf/></Uebergabe>'.encode())
    assert not schema().validate(broken)


@pytest.mark.parametrize("language", ["de", "ar", "uk"])
def test_notification_mail_carries_a_link_and_no_content(language: str) -> None:
    message = compose(
        kind="notice",
        language=language,
        tenant="Jobcenter Test",
        link="https://portal.example/notices",
        sender="portal@example.org",
        recipient="someone@example.org",
    )
    assert "https://portal.example/notices" in message.get_content()
    assert message["Content-Language"] == language
    assert message["Auto-Submitted"] == "auto-generated"


def test_new_secrets_are_redacted() -> None:
    settings = Settings(
        mail={"password": "mail-pass-123"},
        oidc={"client_secret": "oidc-secret-456"},
    )
    text = str(settings.redacted())
    assert "mail-pass-123" not in text and "oidc-secret-456" not in text
