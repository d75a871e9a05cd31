"""Languages: negotiation, gettext catalogs, text direction."""


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message
