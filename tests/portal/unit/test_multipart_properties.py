"""Property tests of the part-header parser, the streaming multipart reader and downloads.

Any header value parses without an exception; every name a browser or an RFC 5987 client
can send comes back exactly; any body, cut into any chunks, gives the same parts or one
:class:`BadRequest` — never another exception (which would be a 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dokportal.lib.downloads import ascii_fallback, content_disposition
from dokportal.lib.errors import BadRequest
from dokportal.lib.header_params import parse_params, part_filename
from dokportal.lib.multipart import Event, PartData, PartEnd, PartStart, parse_parts
from tests.support import fuzzing

# Names as a file system could hold them: any character but the surrogates.
names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80)


@settings(max_examples=fuzzing.scaled(300))
@given(st.text())
@example('form-data; name="a\\"; filename=')
@example("form-data; filename*=UTF-8''%ZZ%; filename=\"")
def test_any_header_value_parses(value: str) -> None:
    fuzzing.count("header_params.parse_params")
    kind, params = parse_params(value)
    assert kind == kind.strip().lower()
    part_filename(params)  # must not raise either


@settings(max_examples=fuzzing.scaled(300))
@given(names)
@example("Зарплата.pdf")
@example('a"b;c\\d%22.pdf')
@example("Rabatt 100%25.pdf")
def test_browser_filename_round_trip(name: str) -> None:
    """Chrome/Firefox: raw UTF-8, only ``"``, CR and LF percent-escaped."""
    fuzzing.count("header_params.browser_filename")
    if any(f"%{code}" in name.lower() for code in ("22", "0d", "0a")) or "\\\\" in name:
        # A browser cannot send these literally: they are its escapes; and a double
        # backslash reads as one (display names treat backslashes as folders anyway).
        return
    escaped = name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    _, params = parse_params(f'form-data; name="files"; filename="{escaped}"')
    assert part_filename(params) == name


@settings(max_examples=fuzzing.scaled(300))
@given(names, st.sampled_from(["UTF-8", "utf-8"]), st.booleans())
def test_rfc5987_filename_round_trip_and_precedence(name: str, charset: str, both: bool) -> None:
    fuzzing.count("header_params.rfc5987_filename")
    exact = quote(name, safe="")
    plain = 'filename="fallback.pdf"; ' if both else ""
    _, params = parse_params(f"form-data; name=files; {plain}filename*={charset}''{exact}")
    assert part_filename(params) == name


def _body(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = bytearray()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def _events(chunks: list[bytes], content_type: str) -> list[Event]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return [event async for event in parse_parts(body(), content_type)]


def _run(chunks: list[bytes], content_type: str) -> list[Event] | BadRequest:
    try:
        return asyncio.run(_events(chunks, content_type))
    except BadRequest as error:
        return error


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return [p for p in pieces if p]


def _merged(events: list[Event]) -> list[tuple[str, object]]:
    """Events with consecutive data joined: chunking may split data, nothing else."""
    out: list[tuple[str, object]] = []
    for event in events:
        if isinstance(event, PartData):
            if out and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + event.data)  # type: ignore[operator]
            else:
                out.append(("data", event.data))
        elif isinstance(event, PartStart):
            out.append(("start", (event.name, event.filename)))
        elif isinstance(event, PartEnd):
            out.append(("end", None))
    return out


boundaries = st.text(
    st.characters(whitelist_categories=["Lu", "Ll", "Nd"], max_codepoint=127),
    min_size=1,
    max_size=70,
)
parts = st.lists(
    st.tuples(
        st.sampled_from(["_csrf", "category", "message", "files"]),
        st.none() | names,
        st.binary(max_size=300),
    ),
    max_size=5,
)


@settings(max_examples=fuzzing.scaled(200))
@given(boundaries, parts, st.lists(st.integers(min_value=0), max_size=8))
def test_any_chunking_gives_the_same_parts(
    boundary: str, form: list[tuple[str, str | None, bytes]], cuts: list[int]
) -> None:
    fuzzing.count("multipart.chunking")
    body = _body(boundary, form)
    content_type = f"multipart/form-data; boundary={boundary}"
    whole = _run([body], content_type)
    pieces = _run(_split(body, cuts), content_type)
    if isinstance(whole, BadRequest):  # e.g. content containing the boundary
        assert isinstance(pieces, BadRequest)
        return
    assert not isinstance(pieces, BadRequest)
    assert _merged(pieces) == _merged(whole)
    expected = [(n, f) for n, f, _ in form]
    assert [value for kind, value in _merged(whole) if kind == "start"] == expected


@settings(max_examples=fuzzing.scaled(300))
@given(st.binary(max_size=2000), st.text(max_size=120), st.lists(st.integers(0), max_size=4))
@example(b'--x\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\n', "boundary=x", [])
def test_any_body_and_content_type_is_parts_or_bad_request(
    body: bytes, boundary: str, cuts: list[int]
) -> None:
    fuzzing.count("multipart.any_body")
    for content_type in (f"multipart/form-data; boundary={boundary}", boundary):
        _run(_split(body, cuts), content_type)  # raises anything but BadRequest → fails


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "b" * 201,  # longer than RFC 2046 allows
        "multipart/form-data; boundary=Grenze-ä",  # not ASCII
        "multipart/mixed; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ],
)
def test_odd_content_types_are_bad_request(content_type: str) -> None:
    assert isinstance(_run([b"--x\r\n"], content_type), BadRequest)


def test_quoted_boundary_with_space_is_read() -> None:
    body = _body("a b", [("_csrf", None, b"t")])
    events = _run([body], 'multipart/form-data; boundary="a b"')
    assert not isinstance(events, BadRequest)
    assert _merged(events)[0] == ("start", ("_csrf", None))


@pytest.mark.parametrize(
    "head",
    [
        # one part header of 100 KiB (the limit is 4 KiB per header)
        b'Content-Disposition: form-data; name="files"; filename="' + b"a" * 100_000 + b'"',
        # more part headers than allowed
        b"\r\n".join([b'Content-Disposition: form-data; name="x"'] + [b"X-A: 1"] * 20),
        # not form-data, or no name
        b"Content-Disposition: attachment; filename=a.pdf",
        b"Content-Disposition: form-data; filename=a.pdf",
        b"Content-Disposition: form-data; name",
    ],
)
def test_huge_or_odd_part_headers_are_bad_request(head: bytes) -> None:
    body = b"--x\r\n" + head + b"\r\n\r\ndata\r\n--x--\r\n"
    assert isinstance(_run([body], "multipart/form-data; boundary=x"), BadRequest)


@settings(max_examples=fuzzing.scaled(300))
@given(names)
@example('Bescheid "Juli"; Kopie\\1.pdf')
def test_download_header_carries_any_name_exactly(name: str) -> None:
    """RFC 6266: an ASCII-only header whose ``filename*`` gives the exact name back."""
    fuzzing.count("downloads.content_disposition")
    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert not set(fallback) & set('"\\;')
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_ascii_fallback_keeps_what_it_can() -> None:
    assert ascii_fallback("Lohnabrechnung März.pdf") == "Lohnabrechnung Marz.pdf"
    assert ascii_fallback("Maaş bordrosu.pdf") == "Maas bordrosu.pdf"
    assert ascii_fallback("Зарплата.pdf") == "________.pdf"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Зарплата.pdf".encode(), "Зарплата.pdf"),  # UTF-8, as every browser sends it
        (b"M\xe4rz.pdf", "März.pdf"),  # Latin-1 from an old client: not UTF-8, read as such
    ],
)
def test_part_header_bytes_utf8_or_latin1(raw: bytes, name: str) -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="files"; filename="' + raw
    body += b'"\r\n\r\ndata\r\n--x--\r\n'
    events = _run([body], "multipart/form-data; boundary=x")
    assert not isinstance(events, BadRequest)
    assert _merged(events)[0] == ("start", ("files", name))
