"""The xdomea-style hand-over: a ZIP with ``manifest.xml`` and the files.

The manifest is built with lxml and validated against the schema we ship
(``xdomea-subset.xsd``) before anything is sent, so an invalid manifest is a bug caught here,
never a broken import at the office.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from dokportal.files.names import with_type_extension
from dokportal.files.tables import StoredFile

NAMESPACE = "urn:dokportal:xdomea-subset:1"
SCHEMA_PATH = Path(__file__).with_name("xdomea-subset.xsd")
FORMATS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


@functools.cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


@dataclass(frozen=True)
class Handover:
    tenant: str
    reference: str
    subject: str
    received_at: datetime
    message: str
    customer_number: str
    customer_name: str
    files: list[tuple[str, StoredFile]]  # (name inside the ZIP, stored file)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def manifest(handover: Handover) -> bytes:
    root = etree.Element(f"{{{NAMESPACE}}}Uebergabe", nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    head = _sub(root, "Kopf")
    _sub(head, "ProzessID", str(uuid.uuid4()))
    _sub(head, "Erstellungszeitpunkt", datetime.now(UTC).isoformat(timespec="seconds"))
    sender = _sub(head, "Absender")
    _sub(sender, "Behoerde", handover.tenant)
    _sub(sender, "Anwendung", "Dokportal")
    case = _sub(_sub(root, "Schriftgutobjekt"), "Vorgang")
    _sub(
        _sub(case, "Identifikation"), "ID", str(uuid.uuid5(uuid.NAMESPACE_URL, handover.reference))
    )
    _sub(case, "Kennzeichen", handover.reference)
    _sub(case, "Betreff", handover.subject)
    _sub(case, "Eingangsdatum", handover.received_at.astimezone(UTC).isoformat(timespec="seconds"))
    if handover.message:
        _sub(case, "Bemerkung", handover.message)
    customer = _sub(case, "Kunde")
    _sub(customer, "Kundennummer", handover.customer_number)
    _sub(customer, "Name", handover.customer_name)
    for name, stored in handover.files:
        document = _sub(case, "Dokument")
        _sub(_sub(document, "Identifikation"), "ID", str(uuid.uuid4()))
        _sub(document, "Betreff", with_type_extension(stored.display_name, stored.content_type))
        version = _sub(document, "Version")
        _sub(version, "Nummer", "1")
        fmt = _sub(version, "Format")
        _sub(fmt, "Name", FORMATS.get(stored.content_type, "bin"))
        primary = _sub(fmt, "Primaerdokument")
        _sub(primary, "Dateiname", name)
        _sub(
            primary,
            "DateinameOriginal",
            with_type_extension(stored.display_name, stored.content_type),
        )
        _sub(primary, "Groesse", str(stored.size))
        digest = _sub(primary, "Hashwert", stored.sha256)
        digest.set("algorithmus", "SHA-256")
    schema().assertValid(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
