"""File names in every script survive the whole way: upload → receipt → caseworker → download.

Browsers send a part's ``filename`` as raw UTF-8 (Chrome and Firefox escape ``"`` as ``%22``
and CR/LF as ``%0D%0A``); other clients send RFC 5987/2231 ``filename*=UTF-8''…``, alone or
beside a plain ``filename``. Each way must end in the same stored name, displayed exactly
(minus control characters) wherever it is shown, and downloaded under that name.
"""

from __future__ import annotations

import html
import io
import zipfile
from urllib.parse import quote, unquote

import pytest

from dokportal.files.tables import StoredFile
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from tests.portal.conftest import Person, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import make_staff, put_in_team, staff_cookies, use
from tests.support import documents

BOUNDARY = "----dokportal-names"

# One name per language the portal speaks, plus the awkward cases.
NAMES = [
    "Lohnabrechnung März.pdf",
    "Payslip.pdf",
    "Зарплата.pdf",
    "Виписка з банку.pdf",
    "كشف حساب.pdf",
    "Maaş bordrosu.pdf",
    "فیش حقوقی.pdf",
    "Kontoauszug 😀.pdf",
    'Bescheid "Juli"; Kopie.pdf',
    "Bescheid_Зарплата.pdf",
    "ж" * 125 + ".pdf",  # 254 bytes of UTF-8 and 129 characters
    "a" * 251 + ".pdf",  # 255 bytes, 255 characters
]


def _part_header(name: str, style: str) -> bytes:
    """The Content-Disposition line of a file part, as a given client sends it."""
    if style == "browser":  # raw UTF-8, quote escaped like Chrome/Firefox
        escaped = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        return f'form-data; name="files"; filename="{escaped}"'.encode()
    exact = quote(name, safe="")
    if style == "rfc5987":
        return f"form-data; name=files; filename*=UTF-8''{exact}".encode()
    # both: an ASCII fallback and the exact name; filename* wins (RFC 6266 § 4.3)
    return f'form-data; name="files"; filename="fallback.pdf"; filename*=utf-8\'\'{exact}'.encode()


def _body(token: str, parts: list[tuple[bytes, bytes]], fields: dict[str, str]) -> bytes:
    out = bytearray()
    for key, value in {"_csrf": token, **fields}.items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for disposition, content in parts:
        out += f"--{BOUNDARY}\r\n".encode() + b"Content-Disposition: " + disposition + b"\r\n"
        out += b"Content-Type: application/pdf\r\n\r\n" + content + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


async def _upload(client: PortalClient, headers: list[bytes]) -> str:
    token = await csrf_of(client, "/documents/new")
    body = _body(token, [(h, documents.pdf()) for h in headers], {"category": "payslip"})
    response = await client.post(
        "/documents",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location.split("?")[0]


@pytest.mark.parametrize("style", ["browser", "rfc5987", "both"])
async def test_names_in_every_script_reach_receipt_caseworker_and_download(
    client: PortalClient, customer: Person, settings: Settings, style: str
) -> None:
    # Upload in two requests: the portal takes at most settings.upload.max_files at once.
    step = settings.upload.max_files
    batches = [NAMES[start : start + step] for start in range(0, len(NAMES), step)]
    receipts = [await _upload(client, [_part_header(n, style) for n in b]) for b in batches]
    stored = sorted(row.display_name for row in await StoredFile.objects())
    assert stored == sorted(NAMES)

    for path, batch in zip(receipts, batches, strict=True):
        receipt = (await client.get(path)).text
        for name in batch:
            assert name in html.unescape(receipt), name
        pdf = await client.get(f"{path}/receipt.pdf")
        assert pdf.status_code == 200

    # The caseworker: submission page shows each name, each download carries it exactly.
    customer_cookies = dict(client.cookies)
    from dokportal.staff.services import ensure_team

    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    member = await make_staff(settings, "clara", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    for path, batch in zip(receipts, batches, strict=True):
        reference = path.rsplit("/", 1)[-1]
        page = await client.get(f"/staff/submissions/{reference}")
        assert page.status_code == 200
        for position, name in enumerate(batch):
            assert name in html.unescape(page.text), name
            download = await client.get(f"/staff/submissions/{reference}/files/{position}")
            assert download.status_code == 200
            disposition = download.headers["content-disposition"]
            assert disposition.isascii()
            assert unquote(disposition.split("filename*=UTF-8''")[1]) == name
        bundle = await client.get(f"/staff/submissions/{reference}/bundle.zip")
        entries = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
        assert [entry.split("-", 1)[1] for entry in entries] == batch
    use(client, customer_cookies)


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("Re\u0301sume\u0301.pdf", "Résumé.pdf"),  # NFD → NFC: one glyph, one character
        ("\u202egnp.exe\u202c.pdf", "gnp.exe.pdf"),  # bidi override would disguise the type
        ("Kontoauszug\u200f\u2066 Mai\u2069.pdf", "Kontoauszug Mai.pdf"),
        ("Zeile\x01\x7f\x9b.pdf", "Zeile.pdf"),  # C0, DEL and C1 controls
        ("C:\\Users\\ich\\Зарплата.pdf", "Зарплата.pdf"),  # old IE sends the full path
    ],
)
async def test_control_and_bidi_characters_are_dropped_from_the_name(
    client: PortalClient, customer: Person, sent: str, shown: str
) -> None:
    await _upload(client, [_part_header(sent, "rfc5987")])
    row = await StoredFile.objects().first()
    assert row is not None and row.display_name == shown


async def test_caseworker_notice_with_cyrillic_name(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    from dokportal.staff.services import ensure_team

    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    customer_cookies = dict(client.cookies)
    lead = await make_staff(settings, "lena", "team_lead", "team-a")
    use(client, await staff_cookies(settings, lead))
    token = await csrf_of(client, f"/staff/customers/{customer.number}")
    response = await client.post(
        f"/staff/customers/{customer.number}/notices",
        data={"_csrf": token, "title": "Bescheid", "message": "Bitte lesen"},
        files=[("file", ("Bescheid_Зарплата.pdf", documents.pdf(), "application/pdf"))],
    )
    assert response.status_code == 303, response.text
    notice = await Notice.objects().first()
    assert notice is not None
    use(client, customer_cookies)
    download = await client.get(f"/notices/{notice.id}/file")
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Bescheid_Зарплата.pdf"


MESSAGE = (
    "Guten Tag, anbei die Unterlagen für März. Добрий день! Здравствуйте. مرحبًا. "
    "Merhaba, ekte maaş bordrom. سلام، فیش\u200cحقوقی پیوست است. 👍🏽"
)


async def test_a_message_in_every_script_reaches_receipt_and_caseworker(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    token = await csrf_of(client, "/documents/new")
    sent = await client.post(
        "/documents",
        data={"_csrf": token, "category": "payslip", "message": MESSAGE},
        files=[("files", ("Зарплата.pdf", documents.pdf(), "application/pdf"))],
    )
    assert sent.status_code == 303, sent.text
    path = sent.headers["location"].split("?")[0]
    assert MESSAGE in html.unescape((await client.get(path)).text)
    from dokportal.staff.services import ensure_team

    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    member = await make_staff(settings, "clara", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    page = await client.get(f"/staff/submissions/{path.rsplit('/', 1)[-1]}")
    assert MESSAGE in html.unescape(page.text)
