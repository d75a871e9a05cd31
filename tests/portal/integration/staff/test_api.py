"""The export API: tokens shown once and stored hashed, scopes, cursor, streams, acknowledge."""

from __future__ import annotations

import hashlib
import re

from dokportal.api.services import token_hash
from dokportal.api.tables import ApiToken
from dokportal.audit.tables import AuditEvent
from dokportal.documents.tables import Submission
from dokportal.settings import Settings
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import make_staff, staff_cookies, upload, use
from tests.support import documents

TOKEN_RE = re.compile(r'class="secret">(dkp_[A-Za-z0-9_-]+)<')


async def _token(client: PortalClient, settings: Settings, *scopes: str) -> str:
    """As an admin, create a token on the admin page; it is shown exactly once."""
    admin = await make_staff(settings, f"admin{len(scopes)}", "admin", None)
    use(client, await staff_cookies(settings, admin))
    token = await csrf_of(client, "/staff/admin/tokens")
    body = [("_csrf", token), ("name", "e-Akte"), *[("scope", s) for s in scopes]]
    page = await client.post(
        "/staff/admin/tokens",
        content="&".join(f"{k}={v}" for k, v in body),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 200, page.text[:300]
    match = TOKEN_RE.search(page.text)
    assert match
    secret = match.group(1)
    assert secret not in (await client.get("/staff/admin/tokens")).text  # shown once
    row = await ApiToken.objects().where(ApiToken.token_hash == token_hash(secret)).first()
    assert row is not None and row.scopes == " ".join(scopes)
    client.cookies.clear()
    return secret


async def test_export_round_trip(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    letter = documents.pdf("Mietvertrag")
    reference = await upload(client, ("miete.pdf", letter, "application/pdf"))
    second = await upload(client)
    reader = await _token(client, settings, "read")
    full = await _token(client, settings, "read", "acknowledge")
    auth = {"authorization": f"Bearer {reader}"}

    listing = await client.get("/api/v1/submissions?since=0&limit=1", headers=auth)
    assert listing.status_code == 200
    page = listing.json()
    assert [item["reference"] for item in page["items"]] == [reference]
    cursor = page["next_cursor"]
    rest = (await client.get(f"/api/v1/submissions?since={cursor}", headers=auth)).json()
    assert [item["reference"] for item in rest["items"]] == [second]
    empty = (
        await client.get(f"/api/v1/submissions?since={rest['next_cursor']}", headers=auth)
    ).json()
    assert empty["items"] == [] and empty["next_cursor"] == rest["next_cursor"]

    meta = (await client.get(f"/api/v1/submissions/{reference}", headers=auth)).json()
    assert meta["customer_number"] == customer.number and meta["message"] == "Anbei"
    (info,) = meta["files"]
    assert info["sha256"] == hashlib.sha256(letter).hexdigest()
    stream = await client.get(info["url"], headers=auth)
    assert stream.content == letter
    assert stream.headers["x-content-sha256"] == info["sha256"]
    assert stream.headers["repr-digest"].startswith("sha-256=:")

    # Read-only token cannot acknowledge; the right scope can, once.
    ack = f"/api/v1/submissions/{reference}/acknowledge"
    assert (await client.post(ack, headers=auth)).status_code == 403
    done = await client.post(ack, headers={"authorization": f"Bearer {full}"})
    assert done.status_code == 200 and done.json() == {
        "reference": reference,
        "status": "transferred",
        "changed": True,
    }
    again = await client.post(ack, headers={"authorization": f"Bearer {full}"})
    assert again.json()["changed"] is False
    row = await Submission.objects().where(Submission.reference == reference).first()
    assert row is not None and row.status == "transferred" and row.transferred_at is not None
    assert await AuditEvent.count().where(AuditEvent.action == "api.acknowledged") == 1
    assert await AuditEvent.exists().where(AuditEvent.action == "api.file_read")


async def test_api_refuses_without_a_valid_token(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    reference = await upload(client)
    # A customer's (or staff member's) cookies open nothing under /api.
    assert (await client.get("/api/v1/submissions")).status_code == 401
    member = await make_staff(settings, "sb", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    assert (await client.get("/api/v1/submissions")).status_code == 401
    client.cookies.clear()
    for header in ("Bearer nope", "Basic abc", "Bearer dkp_" + "x" * 43, ""):
        response = await client.get("/api/v1/submissions", headers={"authorization": header})
        assert response.status_code == 401
        assert response.json() == {"error": "A valid API token is required."}
    secret = await _token(client, settings, "read", "acknowledge")
    admin = await make_staff(settings, "root", "admin", None)
    use(client, await staff_cookies(settings, admin))
    row = await ApiToken.objects().first()
    assert row is not None
    token = await csrf_of(client, "/staff/admin/tokens")
    await client.post(f"/staff/admin/tokens/{row.id}/revoke", data={"_csrf": token})
    client.cookies.clear()
    revoked = await client.get(
        f"/api/v1/submissions/{reference}", headers={"authorization": f"Bearer {secret}"}
    )
    assert revoked.status_code == 401


async def test_api_bad_input_is_4xx(client: PortalClient, settings: Settings) -> None:
    secret = await _token(client, settings, "read")
    auth = {"authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/submissions?since=-1", headers=auth)).status_code == 400
    assert (await client.get("/api/v1/submissions?limit=9999", headers=auth)).status_code == 400
    assert (await client.get("/api/v1/submissions/BG-0-0", headers=auth)).status_code == 404
    assert (await client.get("/api/v1/submissions/BG-0-0/files/0", headers=auth)).status_code == 404


async def test_openapi_describes_only_the_api(client: PortalClient) -> None:
    spec = await client.get("/schema/openapi.json")
    assert spec.status_code == 200
    paths = set(spec.json()["paths"])
    assert paths and all(path.startswith("/api/v1/") for path in paths)
    assert "token" in spec.json()["components"]["securitySchemes"]
