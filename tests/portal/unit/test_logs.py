"""Log lines: the request id a proxy passes on is taken only when it is a plain token (a
header cannot inject text into the log), and a JSON line is one parseable object."""

from __future__ import annotations

import io
import json
import logging

from dokportal import logs


def test_request_id_from_the_proxy_only_when_it_is_a_plain_token() -> None:
    assert logs.new_request_id([(b"x-request-id", b"0f1e2d3c-4b5a-6978")]) == "0f1e2d3c-4b5a-6978"
    for bad in (b'abc"}\n{"level": "ERROR', b"short", b"x" * 65, "Zürich-12345".encode()):
        taken = logs.new_request_id([(b"x-request-id", bad)])
        assert len(taken) == 16 and taken != bad.decode("utf-8", "replace")
    assert len({logs.new_request_id([]) for _ in range(50)}) == 50


def test_json_lines_carry_context_and_exceptions() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.configure("INFO", "json", "lorsch", stream=stream)
    try:
        token = logs.REQUEST_ID.set("abcdef0123456789")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("dokportal.test").exception("it failed\nacross lines")
        logs.REQUEST_ID.reset(token)
        logs.ACCESS.info("GET / 200", extra={"route": "/", "method": "GET", "status": 200})
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "dokportal":
                root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        logging.getLogger("uvicorn.access").disabled = False
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "it failed\nacross lines"
    assert first["request_id"] == "abcdef0123456789" and first["tenant"] == "lorsch"
    assert "ValueError: boom" in first["exception"]
    assert second["route"] == "/" and second["status"] == 200 and "request_id" not in second
