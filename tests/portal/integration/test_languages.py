"""Seven languages, right-to-left where needed, and only the ones the tenant enabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from dokportal.app import create_app
from tests.portal.conftest import PortalClient, make_settings, portal_client


@pytest.mark.parametrize(
    ("accept", "lang", "direction", "word"),
    [
        ("de-DE,de;q=0.9", "de", "ltr", "Kundennummer"),
        ("ar", "ar", "rtl", "تسجيل"),
        ("fa-IR", "fa", "rtl", "ورود"),
        ("uk,ru;q=0.5", "uk", "ltr", "Увійти"),
        ("tr", "tr", "ltr", "Giriş"),
        ("ru", "ru", "ltr", "Войти"),
        ("en-GB", "en", "ltr", "Customer number"),
        ("xx,zz;q=0.4", "de", "ltr", "Kundennummer"),
    ],
)
async def test_accept_language_picks_page_language(
    client: PortalClient, accept: str, lang: str, direction: str, word: str
) -> None:
    page = await client.get("/signin", headers={"accept-language": accept})
    assert f'<html lang="{lang}" dir="{direction}">' in page.text
    assert word in page.text


async def test_explicit_choice_beats_header_and_sticks(client: PortalClient) -> None:
    page = await client.get("/signin?lang=ar", headers={"accept-language": "de"})
    assert 'lang="ar" dir="rtl"' in page.text
    assert page.cookies.get("lang") == "ar"
    again = await client.get("/activate", headers={"accept-language": "de"})
    assert 'lang="ar" dir="rtl"' in again.text


async def test_every_page_offers_the_switcher(client: PortalClient) -> None:
    page = await client.get("/signin")
    for name in ("Deutsch", "English", "Українська", "العربية", "Türkçe", "Русский", "فارسی"):
        assert name in page.text


async def test_tenant_language_set_limits_the_choice(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path, database_url, tenant={"languages": ["de", "en"], "default_language": "de"}
    )
    async with portal_client(create_app(settings)) as client:
        page = await client.get("/signin?lang=ar", headers={"accept-language": "ar"})
        assert 'lang="de" dir="ltr"' in page.text
        assert "العربية" not in page.text
        assert "English" in page.text
