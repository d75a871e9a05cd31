"""Print a submission's stored files, decrypted, as JSON: what a caseworker would open.

Run as ``python -m tests.e2e.stored REFERENCE`` in the appliance's folder (its ``var/``),
in a process of its own so the test process never binds Piccolo's global engine to the
browser tests' database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys

from dokportal import db
from dokportal.cli import load_settings
from dokportal.crypto import Keyring
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files import open_decrypted
from dokportal.files.tables import StoredFile
from dokportal.storage.factory import build_store


async def files_of(reference: str) -> list[dict[str, str]]:
    settings = load_settings()
    db.configure(settings)
    store = build_store(settings.storage)
    keyring = Keyring.load(settings.keyring_path)
    submission = await Submission.objects().where(Submission.reference == reference).first()
    assert submission is not None, reference
    links = (
        await SubmissionFile.objects()
        .where(SubmissionFile.submission == submission.id)
        .order_by(SubmissionFile.position)
    )
    result = []
    for link in links:
        stored = await StoredFile.objects().where(StoredFile.id == link.stored_file).first()
        assert stored is not None
        content = b"".join(
            [
                chunk
                async for chunk in await open_decrypted(
                    store, keyring, settings.tenant.slug, stored
                )
            ]
        )
        result.append(
            {
                "name": stored.display_name,
                "content_type": stored.content_type,
                "content": base64.b64encode(content).decode(),
            }
        )
    return result


def main() -> None:
    print(json.dumps(asyncio.run(files_of(sys.argv[1]))))


if __name__ == "__main__":
    main()
