"""Settings: safe defaults, readable errors, nothing secret in what gets logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from dokportal.settings import Settings, describe_errors
from tests.support.appliance import cli


def test_defaults_are_the_embedded_appliance() -> None:
    settings = Settings()
    assert settings.database_url.get_secret_value().startswith("sqlite:///")
    assert settings.storage.kind == "folder"
    assert settings.tenant.default_language in settings.tenant.languages
    assert not settings.secure_cookies


def test_redacted_configuration_hides_secrets() -> None:
    settings = Settings(
        storage={
            "kind": "s3",
            "s3_endpoint": "http://s3",
            "s3_bucket": "b",
            "s3_access_key": "AKIDSECRET",
            "s3_secret_key": "S3CR3T",
        },
        database_url="postgresql://user:pa55w0rd@db:5432/portal",
        session_secret="s" * 40,
    )
    logged = json.dumps(settings.redacted())
    for secret in ("AKIDSECRET", "S3CR3T", "pa55w0rd", "s" * 40):
        assert secret not in logged
    assert "db:5432/portal" in logged


def test_s3_needs_its_parameters() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(storage={"kind": "s3"})
    lines = describe_errors(error.value)
    assert len(lines) == 1 and "s3_endpoint" in lines[0] and "s3_secret_key" in lines[0]


def test_default_language_must_be_enabled() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(tenant={"languages": ["en", "ar"], "default_language": "de"})
    assert "default_language 'de'" in describe_errors(error.value)[0]


def test_serve_without_keyring_says_so(tmp_path: Path) -> None:
    result = cli(tmp_path, "serve", "--port", "1")
    assert result.returncode == 2
    assert "keyring" in result.stderr.lower()
    assert "Traceback" not in result.stderr
