"""The text of notification mails: no document content, no title, just a link to sign in."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dokportal.i18n import N_
from dokportal.i18n.catalogs import translations

SUBJECTS = {
    "notice": N_("A new document is waiting for you"),
    "reminder": N_("Reminder: a document is waiting for you"),
    "activation": N_("Your access to the document portal"),
}
BODIES = {
    "notice": N_(
        "Hello,\n\n%(tenant)s has put a new document for you in the document portal. "
        "Please sign in to read it:\n\n%(link)s\n\n"
        "This message was sent automatically. Please do not reply."
    ),
    "reminder": N_(
        "Hello,\n\na document from %(tenant)s is still waiting for you in the document portal. "
        "Please sign in to read it:\n\n%(link)s\n\n"
        "This message was sent automatically. Please do not reply."
    ),
    "activation": N_(
        "Hello,\n\nyou asked for access to the document portal of %(tenant)s. "
        "Open this link to choose your password. It works once:\n\n%(link)s\n\n"
        "If you did not ask for this, you can ignore this message."
    ),
}


def compose(
    *, kind: str, language: str, tenant: str, link: str, sender: str, recipient: str
) -> EmailMessage:
    catalog = translations(language)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = catalog.gettext(SUBJECTS[kind])
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(catalog.gettext(BODIES[kind]) % {"tenant": tenant, "link": link})
    # After set_content, which replaces every Content-* header.
    message["Content-Language"] = language
    return message
