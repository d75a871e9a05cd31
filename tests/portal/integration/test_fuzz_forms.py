"""Every POST route of the portal under arbitrary input: never a 5xx, nothing stored half.

The routes are taken from the app itself, so a new form is fuzzed without anyone adding it
here. Each example sends, as a signed-in customer, team lead, admin, API client or nobody,
a body that is one of: a form of plausible and arbitrary fields (the ``_csrf`` valid,
arbitrary text including non-ASCII, or missing), a multipart form with files, or arbitrary
bytes under an arbitrary Content-Type. The answer must be below 500, and afterwards the blob
store and the ``stored_file`` rows must match exactly (no blob without a row, no row
without a blob). Budget: ``tests/support/fuzzing.py``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dokportal.accounts.services import start_session
from dokportal.api.services import create_token
from dokportal.app import create_app
from dokportal.crypto import Keyring
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from tests.portal.conftest import (
    PortalClient,
    _empty_tables,
    activate,
    csrf_of,
    new_customer,
    portal_client,
)
from tests.portal.integration.staff.conftest import make_staff, put_in_team, staff_cookies, upload
from tests.support import documents, fuzzing


def _post_routes() -> list[str]:
    """Every POST route the app has (an app built only to list them, no database used)."""
    with tempfile.TemporaryDirectory() as folder:
        keyring = Path(folder) / "keyring.json"
        Keyring.generate().save(keyring)
        app = create_app(
            Settings(
                session_secret="x" * 48,
                keyring_path=keyring,
                storage={"kind": "folder", "folder": Path(folder)},
            )
        )
    return sorted(
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "POST" in handler.http_methods
    )


FIELDS = [
    "customer_number", "password", "password_repeat", "code", "name", "date_of_birth",
    "consent", "category", "message", "title", "number", "language", "email", "status",
    "assignee", "body", "scope", "username", "next", "action", "combine",
]  # fmt: skip
PLAUSIBLE = ["", "1", "0", "payslip", "123A000001", "Sonnenblume-2026", "de", "done", "read"]
text = st.text(max_size=60) | st.sampled_from(PLAUSIBLE)
urltext = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)


@dataclass
class World:
    client: PortalClient
    settings: Settings
    csrf: str
    reference: str
    number: str
    cookies: dict[str, dict[str, str]]
    api_token: str


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    """A customer with a submission, a team lead and an admin, all signed in, one API token."""
    from tests.portal.conftest import make_settings

    settings = make_settings(tmp_path, database_url)
    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app) as client:
        person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        await ensure_team("team-a")
        await put_in_team(person.number, "team-a")
        reference = await upload(client, ("Зарплата.pdf", documents.pdf(), "application/pdf"))
        csrf = await csrf_of(client, "/documents/new")
        base = dict(client.cookies)
        lead = await make_staff(settings, "lena", "team_lead", "team-a")
        admin = await make_staff(settings, "adam", "admin", None)
        token, _ = await create_token("fuzz", ["read", "acknowledge"], None)
        cookies = {
            "customer": {
                **base,
                "session": await start_session(person.id, settings.security),
            },
            "staff": {**base, **await staff_cookies(settings, lead)},
            "admin": {**base, **await staff_cookies(settings, admin)},
            "nobody": {k: v for k, v in base.items() if k == "csrf"},
        }
        yield World(client, settings, csrf, reference, person.number, cookies, token)


def _path(template: str, world: World, wild: str | None) -> str:
    def value(match: re.Match[str]) -> str:
        kind = match.group(2)
        if wild is not None:
            return quote(wild, safe="") or "x"
        if kind == "int":
            return "1"
        return world.reference if match.group(1) == "reference" else world.number

    return re.sub(r"\{(\w+):(\w+)\}", value, template)


def _caller(path: str) -> str:
    if path.startswith("/staff/admin"):
        return "admin"
    if path.startswith("/staff"):
        return "staff"
    return "customer"


bodies = st.one_of(
    st.tuples(st.just("form"), st.lists(st.tuples(st.sampled_from(FIELDS) | urltext, text))),
    st.tuples(
        st.just("multipart"),
        st.lists(
            st.tuples(
                st.sampled_from(["files", "file", "pages", *FIELDS]),
                st.none() | urltext,
                st.binary(max_size=200) | st.sampled_from([documents.pdf(), documents.jpeg()]),
            ),
            max_size=4,
        ),
    ),
    st.tuples(st.just("raw"), st.tuples(st.binary(max_size=400), st.text(max_size=80))),
)
csrf_values = st.one_of(st.just("valid"), st.none(), urltext)
# Request headers the portal reads besides Content-Type; any latin-1 value an HTTP/1.1
# client can put on the wire (no CR/LF).
header_values = st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n\x00"))
extra_headers = st.dictionaries(
    st.sampled_from(
        [b"accept-language", b"user-agent", b"referer", b"origin", b"x-forwarded-for", b"range"]
    ),
    header_values.map(lambda text: text.encode("latin-1")),
    max_size=3,
)


def _build(world: World, csrf: str | None, kind: str, payload: object) -> tuple[bytes, bytes]:
    """The body and its Content-Type for one generated request."""
    token = world.csrf if csrf == "valid" else csrf
    if kind == "form":
        fields: list[tuple[str, str]] = list(payload)  # type: ignore[call-overload]
        pairs = ([("_csrf", token)] if token is not None else []) + fields
        return urlencode(pairs).encode(), b"application/x-www-form-urlencoded"
    if kind == "multipart":
        boundary = "fuzz-boundary-7f3a"
        out = bytearray()
        if token is not None:
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n'.encode()
            out += token.encode() + b"\r\n"
        parts: list[tuple[str, str | None, bytes]] = list(payload)  # type: ignore[call-overload]
        for name, filename, content in parts:
            disposition = f'form-data; name="{name}"'
            if filename is not None:
                disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
            out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            out += content + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return bytes(out), f"multipart/form-data; boundary={boundary}".encode()
    raw: bytes
    content_type: str
    raw, content_type = payload  # type: ignore[misc]
    header = content_type.replace("\r", "").replace("\n", "").encode("latin-1", errors="replace")
    return raw, header


async def _stored_matches_rows(settings: Settings) -> None:
    root = Path(settings.storage.folder)
    blobs = {p.name for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}
    rows = {row["blob_id"] for row in await StoredFile.select(StoredFile.blob_id)}
    assert blobs == rows, "a blob without a row or a row without a blob"


ROUTES = _post_routes()


def test_the_fuzz_covers_every_post_route() -> None:
    assert len(ROUTES) >= 20 and "/documents" in ROUTES and "/staff/signin" in ROUTES


@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=fuzzing.scaled(15))
@given(
    body=bodies,
    csrf=csrf_values,
    wild=st.none() | st.none() | urltext,
    anonymous=st.booleans(),
    extra=extra_headers,
)
async def test_post_route_never_answers_5xx(
    world: World,
    route: str,
    body: tuple[str, object],
    csrf: str | None,
    wild: str | None,
    anonymous: bool,
    extra: dict[bytes, bytes],
) -> None:
    fuzzing.count(f"POST {route}")
    client = world.client
    client.cookies.clear()
    who = "nobody" if anonymous else _caller(route)
    for name, value in world.cookies[who].items():
        client.cookies.set(name, value)
    content, content_type = _build(world, csrf, *body)
    headers = {**extra, b"content-type": content_type}
    if route.startswith("/api/") and not anonymous:
        headers[b"authorization"] = f"Bearer {world.api_token}".encode()
    response = await client.post(_path(route, world, wild), content=content, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    await _stored_matches_rows(world.settings)


@pytest.mark.parametrize("value", ["ä" * 64, "Зарплата", "\u202e" + "0" * 63, "😀"])
async def test_non_ascii_csrf_is_403_on_forms_and_uploads(world: World, value: str) -> None:
    """``hmac.compare_digest`` raises on non-ASCII ``str``: this was a 500 on every form."""
    client = world.client
    for name, cookie in world.cookies["customer"].items():
        client.cookies.set(name, cookie)
    form = await client.post("/profile/consent", data={"_csrf": value, "consent": "1"})
    assert form.status_code == 403
    signin = await client.post("/signin", data={"_csrf": value, "customer_number": "1"})
    assert signin.status_code == 403
    sent = await client.post(
        "/documents",
        data={"_csrf": value, "category": "payslip"},
        files=[("files", ("a.pdf", documents.pdf(), "application/pdf"))],
    )
    assert sent.status_code == 403
    await _stored_matches_rows(world.settings)
