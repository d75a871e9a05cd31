"""Faults the upload path must survive with nothing lost and nothing half-stored."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dokportal.app import create_app
from dokportal.documents.tables import Submission
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from tests.portal.conftest import (
    Person,
    PortalClient,
    activate,
    csrf_of,
    make_settings,
    new_customer,
    portal_client,
)
from tests.support import documents
from tests.support.appliance import cli, running_appliance
from tests.support.seaweed import SeaweedS3


def multipart_head(token: str, boundary: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\npayslip\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="scan.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()


async def test_client_disconnect_mid_upload_stores_nothing(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    """Drive the ASGI app directly: body chunks, then the client goes away."""
    token = await csrf_of(client, "/documents/new")
    boundary = "XyZ"
    chunks = [multipart_head(token, boundary), b"%PDF-1.7\n" + b"a" * 300_000, b"b" * 300_000]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/documents",
        "raw_path": b"/documents",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            (b"cookie", "; ".join(f"{k}={v}" for k, v in client.cookies.items()).encode()),
        ],
    }
    await client.app(scope, receive, send)  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert await Submission.count() == 0 and await StoredFile.count() == 0
    assert [p for p in Path(settings.storage.folder).rglob("*") if p.is_file()] == []


def slow_body(token: str, started: threading.Event, release: threading.Event) -> Iterator[bytes]:
    yield multipart_head(token, "KILL")
    yield b"%PDF-1.7\n" + b"x" * 2_000_000
    started.set()
    release.wait(30)
    yield b"y" * 2_000_000


@pytest.mark.timeout(180)
def test_kill_9_mid_upload_leaves_only_a_sweepable_orphan(tmp_path: Path) -> None:
    with running_appliance(tmp_path) as app:
        code = app.activation_code
        assert code
        browser = httpx.Client(base_url=app.url)
        page = browser.get("/activate").text
        token = page.split('name="_csrf" value="')[1].split('"')[0]
        browser.post(
            "/activate",
            data={
                "_csrf": token,
                "customer_number": "123D000001",
                "code": code,
                "password": "Sonnenblume-2026",
                "password_repeat": "Sonnenblume-2026",
            },
        )
        # Signing in replaced the form token (it is bound to the session).
        page = browser.get("/documents/new").text
        token = page.split('name="_csrf" value="')[1].split('"')[0]
        started, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def upload() -> None:
            try:
                browser.post(
                    "/documents",
                    content=slow_body(token, started, release),
                    headers={"content-type": "multipart/form-data; boundary=KILL"},
                )
            except BaseException as error:  # noqa: BLE001 - the server dies under us
                errors.append(error)

        worker = threading.Thread(target=upload)
        worker.start()
        assert started.wait(30)
        incoming = tmp_path / "var" / "blobs" / ".incoming"
        while not (incoming.exists() and any(incoming.iterdir())):
            # The server has the first megabytes; wait until it has begun writing them.
            assert app.process.poll() is None
            threading.Event().wait(0.02)
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait()
        release.set()
        worker.join(30)
        browser.close()
        assert errors, "the upload cannot have succeeded"

    partial = [p for p in (tmp_path / "var" / "blobs").rglob("*") if p.is_file()]
    assert partial, "the kill left a partial blob, as a crash would"
    swept = cli(tmp_path, "storage", "sweep", "--grace-minutes", "0")
    assert swept.returncode == 0, swept.stderr
    assert "removed 1" in swept.stdout
    assert [p for p in (tmp_path / "var" / "blobs").rglob("*") if p.is_file()] == []
    with running_appliance(tmp_path) as app:
        assert "BG-" not in httpx.get(f"{app.url}/documents").text


@pytest.mark.s3
async def test_upload_and_download_through_s3(
    tmp_path: Path, database_url: str, seaweed: SeaweedS3, s3_bucket: str
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        storage={
            "kind": "s3",
            "s3_endpoint": seaweed.endpoint_url,
            "s3_bucket": s3_bucket,
            "s3_access_key": seaweed.access_key,
            "s3_secret_key": seaweed.secret_key,
        },
    )
    from tests.portal.conftest import _empty_tables
    from tests.portal.helpers import send_notice_to

    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app) as client:
        person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        big = documents.padded_pdf(9 * 1024 * 1024 + 12345)  # more than one multipart part
        token = await csrf_of(client, "/documents/new")
        response = await client.post(
            "/documents",
            data={"_csrf": token, "category": "rent"},
            files=[("files", ("gross.pdf", big, "application/pdf"))],
        )
        assert response.status_code == 303, response.text
        s3 = seaweed.client()
        objects = s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
        assert len(objects) == 1
        stored = s3.get_object(Bucket=s3_bucket, Key=objects[0]["Key"])["Body"].read()
        assert len(stored) > len(big) and big[-4096:] not in stored  # ciphertext only
        notice = await send_notice_to(settings, person.number, "Bescheid", big)
        download = await client.get(f"/notices/{notice.id}/file")
        assert download.content == big


async def test_storage_down_is_503_and_nothing_recorded(tmp_path: Path, database_url: str) -> None:
    from tests.portal.conftest import _empty_tables
    from tests.support.appliance import free_port

    settings = make_settings(
        tmp_path,
        database_url,
        storage={
            "kind": "s3",
            "s3_endpoint": f"http://127.0.0.1:{free_port()}",
            "s3_bucket": "gone",
            "s3_access_key": "a",
            "s3_secret_key": "b",
        },
    )
    app = create_app(settings)
    await _empty_tables()
    async with portal_client(app) as client:
        person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        token = await csrf_of(client, "/documents/new")
        response = await client.post(
            "/documents",
            data={"_csrf": token, "category": "rent"},
            files=[("files", ("a.pdf", documents.pdf(), "application/pdf"))],
        )
        assert response.status_code == 503
        assert "what you just sent was not saved" in response.text
        assert response.headers["retry-after"] == "120"
        assert await Submission.count() == 0 and await StoredFile.count() == 0
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "storage" in ready.json()
