"""Who may call what: every route by every kind of caller, walked completely.

The RULES table names every route the app has; a new route without a rule fails
``test_every_route_has_a_rule``. docs/authorization.md shows the same table (rendered from
RULES by ``render_markdown``; ``test_docs_match_the_rules`` keeps the two in step).

Expected outcomes: a status code, or ``SIGNIN`` / ``STAFF_SIGNIN`` for a 303 to the customer
or staff sign-in page.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from dokportal.accounts.tables import AccessRequest, Customer
from dokportal.api.services import create_token
from dokportal.documents.tables import Submission
from dokportal.mail.tables import MailJob
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from tests.portal.conftest import PortalClient, activate, csrf_of, new_customer
from tests.portal.helpers import send_notice_to
from tests.portal.integration.staff.conftest import make_staff, staff_cookies
from tests.support import documents

ROLES = ("anonymous", "customer", "other", "caseworker", "foreign", "lead", "admin", "api")
ROLE_TITLES = {
    "anonymous": "anonymous",
    "customer": "customer (owner)",
    "other": "other customer",
    "caseworker": "caseworker of the team",
    "foreign": "caseworker of another team",
    "lead": "team lead",
    "admin": "admin",
    "api": "API token",
}
SIGNIN = "signin"
STAFF_SIGNIN = "staff-signin"
Outcome = int | str


def row(*outcomes: Outcome) -> dict[str, Outcome]:
    assert len(outcomes) == len(ROLES)
    return dict(zip(ROLES, outcomes, strict=True))


S, T = SIGNIN, STAFF_SIGNIN
PUBLIC = row(200, 200, 200, 200, 200, 200, 200, 200)
CUSTOMER_PAGE = row(S, 200, 200, S, S, S, S, S)
CUSTOMER_OWN = row(S, 200, 404, S, S, S, S, S)
CUSTOMER_ACTION = row(S, 303, 303, S, S, S, S, S)
STAFF_PAGE = row(T, T, T, 200, 200, 200, 200, T)
TEAM_OBJECT = row(T, T, T, 200, 404, 200, 404, T)
TEAM_ACTION = row(T, T, T, 303, 404, 303, 404, T)
LEAD_ACTION = row(T, T, T, 403, 403, 303, 404, T)
ADMIN_PAGE = row(T, T, T, 403, 403, 403, 200, T)
ADMIN_ACTION = row(T, T, T, 403, 403, 403, 303, T)
API = row(401, 401, 401, 401, 401, 401, 401, 200)
ALL = {status: row(*([status] * len(ROLES))) for status in (200, 400, 401, 404)}
NO_PARTIAL_SESSION = row(T, T, T, T, T, T, T, T)

# Routes that end the caller's session come last, so each role keeps it for the rest.
RULES: dict[tuple[str, str], dict[str, Outcome]] = {
    # Public pages and machinery.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/leichte-sprache"): PUBLIC,
    ("GET", "/barrierefreiheit"): PUBLIC,
    ("GET", "/offline"): PUBLIC,
    ("GET", "/manifest.webmanifest"): PUBLIC,
    ("GET", "/sw.js"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/openapi.yaml"): PUBLIC,
    ("GET", "/schema/openapi.yml"): PUBLIC,
    ("GET", "/schema/{path:str}"): ALL[404],
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): ALL[401],
    ("GET", "/activate"): PUBLIC,
    ("POST", "/activate"): ALL[400],
    ("GET", "/access"): PUBLIC,
    ("POST", "/access"): PUBLIC,
    ("GET", "/staff/signin"): PUBLIC,
    ("POST", "/staff/signin"): ALL[401],
    ("GET", "/staff/signin/code"): NO_PARTIAL_SESSION,
    ("POST", "/staff/signin/code"): NO_PARTIAL_SESSION,
    ("GET", "/staff/enrol"): NO_PARTIAL_SESSION,
    ("POST", "/staff/enrol"): NO_PARTIAL_SESSION,
    # OIDC is off in this app: both routes do not exist for anyone.
    ("GET", "/staff/oidc/start"): ALL[404],
    ("GET", "/staff/oidc/callback"): ALL[404],
    # The customer's pages.
    ("GET", "/"): CUSTOMER_PAGE,
    ("GET", "/documents"): CUSTOMER_PAGE,
    ("GET", "/documents/new"): CUSTOMER_PAGE,
    ("POST", "/documents"): CUSTOMER_ACTION,
    ("GET", "/documents/{reference:str}"): CUSTOMER_OWN,
    ("GET", "/documents/{reference:str}/receipt.pdf"): CUSTOMER_OWN,
    ("GET", "/notices"): CUSTOMER_PAGE,
    ("GET", "/notices/{notice_id:int}"): CUSTOMER_OWN,
    ("GET", "/notices/{notice_id:int}/file"): CUSTOMER_OWN,
    ("GET", "/profile"): CUSTOMER_PAGE,
    ("POST", "/profile/consent"): CUSTOMER_ACTION,
    # The workspace.
    ("GET", "/staff"): STAFF_PAGE,
    ("GET", "/staff/submissions/{reference:str}"): TEAM_OBJECT,
    ("GET", "/staff/submissions/{reference:str}/files/{position:int}"): TEAM_OBJECT,
    ("GET", "/staff/submissions/{reference:str}/bundle.zip"): TEAM_OBJECT,
    ("GET", "/staff/submissions/{reference:str}/bundle.pdf"): TEAM_OBJECT,
    ("GET", "/staff/submissions/{reference:str}/xdomea.zip"): TEAM_OBJECT,
    ("POST", "/staff/submissions/{reference:str}/assign"): TEAM_ACTION,
    ("POST", "/staff/submissions/{reference:str}/status"): TEAM_ACTION,
    ("POST", "/staff/submissions/{reference:str}/notes"): TEAM_ACTION,
    ("GET", "/staff/customers"): STAFF_PAGE,
    ("GET", "/staff/customers/new"): STAFF_PAGE,
    # Admins have no team, so they cannot create customers (400, nothing stored).
    ("POST", "/staff/customers"): row(T, T, T, 303, 303, 303, 400, T),
    ("GET", "/staff/customers/{number:str}"): TEAM_OBJECT,
    ("POST", "/staff/customers/{number:str}/letter"): TEAM_OBJECT,
    ("POST", "/staff/customers/{number:str}/lock"): LEAD_ACTION,
    ("POST", "/staff/customers/{number:str}/unlock"): LEAD_ACTION,
    ("POST", "/staff/customers/{number:str}/notices"): TEAM_ACTION,
    ("GET", "/staff/notices"): STAFF_PAGE,
    ("POST", "/staff/mail/{job_id:int}/retry"): TEAM_ACTION,
    ("GET", "/staff/access-requests"): STAFF_PAGE,
    ("POST", "/staff/access-requests/{request_id:int}/done"): TEAM_ACTION,
    ("GET", "/staff/admin/tokens"): ADMIN_PAGE,
    ("POST", "/staff/admin/tokens"): row(T, T, T, 403, 403, 403, 200, T),
    ("POST", "/staff/admin/tokens/{token_id:int}/revoke"): ADMIN_ACTION,
    ("GET", "/staff/admin/audit"): ADMIN_PAGE,
    # The export API: only a token opens it; cookies count for nothing here.
    ("GET", "/api/v1/submissions"): API,
    ("GET", "/api/v1/submissions/{reference:str}"): API,
    ("GET", "/api/v1/submissions/{reference:str}/files/{position:int}"): API,
    ("POST", "/api/v1/submissions/{reference:str}/acknowledge"): API,
    # Sessions end last.
    ("POST", "/signout"): row(S, S, S, S, S, S, S, S),
    ("POST", "/staff/signout"): row(T, T, T, T, T, T, T, T),
}

FORMS: dict[str, dict[str, str]] = {
    "/signin": {"customer_number": "000", "password": "x"},
    "/staff/signin": {"username": "nobody", "password": "x"},
    "/access": {"customer_number": "1", "name": "x", "date_of_birth": "2000-01-01"},
    "/profile/consent": {"consent": "1"},
    "/staff/submissions/{reference:str}/assign": {"assignee": "me"},
    "/staff/submissions/{reference:str}/status": {"status": "in_progress"},
    "/staff/submissions/{reference:str}/notes": {"body": "Rückfrage"},
    "/staff/customers": {"number": "444D000004", "name": "Neu Kunde", "language": "de"},
    "/staff/admin/tokens": {"name": "e-Akte", "scope": "read"},
}
UPLOADS = {
    "/documents": ("files", {"category": "other"}),
    "/staff/customers/{number:str}/notices": ("file", {"title": "Bescheid"}),
}


def app_routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for method in getattr(route, "methods", set()):
            if method in {"HEAD", "OPTIONS"}:
                continue
            found.add((method, route.path.rstrip("/") or "/"))
    return found


def test_every_route_has_a_rule(client: PortalClient) -> None:
    assert isinstance(client.app, Litestar)
    routes = app_routes(client.app)
    assert routes - set(RULES) == set(), "routes without a rule"
    assert set(RULES) - routes == set(), "rules for routes that do not exist"


def _cell(outcome: Outcome) -> str:
    if outcome == SIGNIN:
        return "→ sign-in"
    if outcome == STAFF_SIGNIN:
        return "→ staff sign-in"
    if outcome in (200, 303):
        return f"✅ {outcome}"
    return f"❌ {outcome}"


def render_markdown() -> str:
    header = "| method | route | " + " | ".join(ROLE_TITLES[r] for r in ROLES) + " |"
    lines = [header, "|" + "---|" * (len(ROLES) + 2)]
    for (method, path), outcomes in RULES.items():
        cells = " | ".join(_cell(outcomes[r]) for r in ROLES)
        lines.append(f"| {method} | `{path}` | {cells} |")
    return "\n".join(lines) + "\n"


def test_docs_match_the_rules() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "authorization.md"
    text = doc.read_text()
    start, end = "<!-- table:start -->\n", "<!-- table:end -->"
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == render_markdown(), (
        "docs/authorization.md is out of date: paste the output of "
        "`.venv/bin/python -c 'from tests.portal.integration.test_access import "
        'render_markdown; print(render_markdown(), end="")\'`'
    )


@pytest.fixture
async def world(client: PortalClient, settings: Settings) -> dict[str, object]:
    """Team A: a customer with a submission and a notice, a customer not yet activated, an
    access request and a failed mail; team B with another customer; staff of every role."""
    team_a = await ensure_team("team-a")
    team_b = await ensure_team("team-b")
    owner = await new_customer("111A000001", "Owner")
    other = await new_customer("222B000002", "Other")
    await Customer.update({Customer.team: team_a.id}).where(Customer.id == owner.id)
    await Customer.update({Customer.team: team_b.id}).where(Customer.id == other.id)
    pending = Customer(customer_number="333C000003", display_name="Pending", team=team_a.id)
    await pending.save()
    request = AccessRequest(customer=pending.id)
    await request.save()
    assert (await activate(client, owner)).status_code == 303
    token = await csrf_of(client, "/documents/new")
    upload = await client.post(
        "/documents",
        data={"_csrf": token, "category": "rent"},
        files=[("files", ("miete.pdf", documents.pdf(), "application/pdf"))],
    )
    assert upload.status_code == 303
    await send_notice_to(settings, owner.number, "Bescheid", documents.pdf())
    submission = await Submission.objects().first()
    notice = await Notice.objects().first()
    assert submission is not None and notice is not None
    job = MailJob(
        kind="notice",
        recipient="x@example.org",
        object_type="notice",
        object_id=str(notice.id),
        status="failed",
    )
    await job.save()
    cookies: dict[str, dict[str, str]] = {"anonymous": {}, "api": {}}
    cookies["customer"] = dict(client.cookies)
    client.cookies.clear()
    assert (await activate(client, other)).status_code == 303
    cookies["other"] = dict(client.cookies)
    client.cookies.clear()
    for role, (name, kind, team) in {
        "caseworker": ("anna", "caseworker", "team-a"),
        "foreign": ("bert", "caseworker", "team-b"),
        "lead": ("lena", "team_lead", "team-a"),
        "admin": ("root", "admin", None),
    }.items():
        cookies[role] = await staff_cookies(settings, await make_staff(settings, name, kind, team))
    secret, api_token = await create_token("e-Akte", ["read", "acknowledge"], None)
    return {
        "values": {
            "{reference:str}": submission.reference,
            "{notice_id:int}": str(notice.id),
            "{file_path:path}": "portal.css",
            "{position:int}": "0",
            "{number:str}": "333C000003",
            "{job_id:int}": str(job.id),
            "{request_id:int}": str(request.id),
            "{token_id:int}": str(api_token.id),
            "{path:str}": "nothing-here",
        },
        "cookies": cookies,
        "api_token": secret,
    }


def concrete(path: str, world: dict[str, object]) -> str:
    values: dict[str, str] = world["values"]  # type: ignore[assignment]
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    return path


async def _call(
    client: PortalClient, method: str, path: str, url: str, headers: dict[str, str]
) -> httpx.Response:
    if method == "GET":
        return await client.get(url, headers=headers)
    if path.startswith("/api/"):
        return await client.post(url, headers=headers)
    saved = dict(client.cookies)
    token = await csrf_of(client, "/signin")
    for name, value in saved.items():
        client.cookies.set(name, value)
    if path in UPLOADS:
        field, data = UPLOADS[path]
        return await client.post(
            url,
            data={"_csrf": token, **data},
            files=[(field, ("x.pdf", documents.pdf(), "application/pdf"))],
            headers=headers,
        )
    return await client.post(url, data={"_csrf": token, **FORMS.get(path, {})}, headers=headers)


@pytest.mark.parametrize("who", ROLES)
async def test_access_table(client: PortalClient, world: dict[str, object], who: str) -> None:
    cookies: dict[str, dict[str, str]] = world["cookies"]  # type: ignore[assignment]
    headers = {"authorization": f"Bearer {world['api_token']}"} if who == "api" else {}
    for (method, path), expected in RULES.items():
        client.cookies.clear()
        for name, value in cookies[who].items():
            client.cookies.set(name, value)
        response = await _call(client, method, path, concrete(path, world), headers)
        outcome = expected[who]
        status = 303 if outcome in (SIGNIN, STAFF_SIGNIN) else outcome
        assert response.status_code == status, (method, path, who, response.text[:300])
        location = response.headers.get("location", "")
        if outcome == SIGNIN:
            assert location.startswith("/signin"), (method, path, who, location)
        elif outcome == STAFF_SIGNIN:
            assert location.startswith("/staff/signin"), (method, path, who, location)
        elif status == 303:
            assert not location.startswith(("/signin", "/staff/signin")), (method, path, who)


async def test_guessing_ids_never_reveals(client: PortalClient, world: dict[str, object]) -> None:
    cookies: dict[str, dict[str, str]] = world["cookies"]  # type: ignore[assignment]
    for who, urls in {
        "other": (
            "/notices/999999",
            "/notices/999999/file",
            "/documents/BG-2026-999999",
            "/documents/BG-2026-999999/receipt.pdf",
            "/notices/abc",
        ),
        "caseworker": (
            "/staff/submissions/BG-2026-999999",
            "/staff/submissions/BG-2026-999999/files/0",
            "/staff/customers/222B000002",
            "/staff/customers/999Z999999",
            "/staff/submissions/BG-2026-000001/files/99999999999999999999",
        ),
        "admin": ("/staff/admin/tokens/99999999999999999999",),
    }.items():
        client.cookies.clear()
        for name, value in cookies[who].items():
            client.cookies.set(name, value)
        for url in urls:
            assert (await client.get(url)).status_code == 404, (who, url)
    # Ids beyond a database integer are "not found" too, never a driver error (500).
    huge = "99999999999999999999"
    for who, url in (
        ("customer", f"/notices/{huge}"),
        ("lead", f"/staff/mail/{huge}/retry"),
        ("lead", f"/staff/access-requests/{huge}/done"),
        ("admin", f"/staff/admin/tokens/{huge}/revoke"),
    ):
        client.cookies.clear()
        for name, value in cookies[who].items():
            client.cookies.set(name, value)
        if url.startswith("/notices"):
            assert (await client.get(url)).status_code == 404, url
            continue
        token = await csrf_of(client, "/signin")
        for name, value in cookies[who].items():
            client.cookies.set(name, value)
        assert (await client.post(url, data={"_csrf": token})).status_code == 404, url
    api = {"authorization": f"Bearer {world['api_token']}"}
    client.cookies.clear()
    for url in (f"/api/v1/submissions?since={huge}", f"/api/v1/submissions/X/files/{huge}"):
        assert (await client.get(url, headers=api)).status_code in (400, 404), url
