"""A tiny OpenID Connect provider for the tests: discovery, authorize, token, JWKS.

Real HTTP on 127.0.0.1 (uvicorn in a thread), RS256 ID tokens signed with joserfc, PKCE
(S256) checked at the token endpoint. It signs in whichever user the test put in ``user``
without asking, as if that person had already authenticated at the county's IdP.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from litestar import Litestar, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Response

from tests.support.appliance import free_port

CLIENT_ID = "dokportal"
CLIENT_SECRET = "s3cret-for-tests"


@dataclass
class Provider:
    url: str
    user: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"}
        )
    )

    def app(self) -> Litestar:
        provider = self

        @get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": provider.url,
                "authorization_endpoint": f"{provider.url}/authorize",
                "token_endpoint": f"{provider.url}/token",
                "jwks_uri": f"{provider.url}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }

        @get("/jwks")
        async def jwks() -> dict[str, Any]:
            return KeySet([provider.key]).as_dict(private=False)  # type: ignore[return-value]

        @get("/authorize")
        async def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            query = request.query_params
            if (
                query.get("client_id") != CLIENT_ID
                or query.get("response_type") != "code"
                or query.get("code_challenge_method") != "S256"
                or not query.get("code_challenge")
            ):
                return Response({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            provider.codes[code] = {
                "challenge": query["code_challenge"],
                "nonce": query.get("nonce", ""),
                "redirect_uri": query["redirect_uri"],
            }
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            return Redirect(path=target, status_code=302)

        @post("/token", status_code=200)
        async def token(
            request: Request[Any, Any, Any],
            data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
        ) -> Response[Any]:
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return Response({"error": "invalid_client"}, status_code=401)
            grant = provider.codes.pop(data.get("code", ""), None)
            verifier = data.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                grant is None
                or grant["challenge"] != challenge
                or grant["redirect_uri"] != data.get("redirect_uri")
            ):
                return Response({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": provider.url,
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **provider.user,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, provider.key)
            return Response(
                {"access_token": "unused", "token_type": "Bearer", "id_token": id_token}
            )

        return Litestar([discovery, jwks, authorize, token], openapi_config=None)


@contextmanager
def running_provider() -> Iterator[Provider]:
    port = free_port()
    provider = Provider(url=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # readiness flag set by uvicorn once it listens
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("OIDC test provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
