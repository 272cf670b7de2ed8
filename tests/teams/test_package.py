"""The app package: manifest.json valid against Microsoft's published schema 1.25, icon sizes.

tests/teams/MicrosoftTeams.schema.v1.25.json is Microsoft's schema as published at
https://developer.microsoft.com/json-schemas/teams/v1.25/MicrosoftTeams.schema.json, copied from
https://github.com/OfficeDev/microsoft-teams-app-schema (MicrosoftTeams.schema.json at commit
5b8419ac5e38537cfdbda3441f4472134430a933, "GA 1.25").
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import jsonschema
import pytest

from bot.errors import ConfigError
from bot.surfaces.teams.package import build_package, manifest

SCHEMA = json.loads((Path(__file__).parent / "MicrosoftTeams.schema.v1.25.json").read_text())
CLIENT_ID = "c0c0c0c0-0000-4000-8000-00000000b07a"


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (depth, color) == (8, 6)  # 8-bit RGBA
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    stride = 1 + width * 4
    pixels = [
        raw[r * stride + 1 + c * 4 : r * stride + 5 + c * 4]
        for r in range(height)
        for c in range(width)
    ]
    return width, height, pixels


def test_the_manifest_is_valid_against_the_published_schema() -> None:
    document = manifest(client_id=CLIENT_ID, domain="copilot.example.com")
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    assert document["manifestVersion"] == "1.25"
    bot = document["bots"][0]
    assert bot["botId"] == CLIENT_ID
    assert set(bot["scopes"]) == {"team", "groupChat", "personal"}
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles == [
        "prioritize",
        "plan sprint",
        "retro",
        "settings",
        "estimate",
        "forecast",
        "nudges",
        "help",
    ]
    assert document["validDomains"] == ["copilot.example.com"]


def test_the_schema_catches_a_broken_manifest() -> None:
    document = manifest(client_id=CLIENT_ID, domain="copilot.example.com")
    document["bots"][0]["scopes"] = ["team", "everywhere"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(document)


def test_the_package_holds_the_manifest_and_icons_of_the_sizes_teams_requires() -> None:
    archive = zipfile.ZipFile(
        io.BytesIO(build_package(client_id=CLIENT_ID, domain="bot.example.org"))
    )
    assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
    document = json.loads(archive.read("manifest.json"))
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    width, height, _ = _png_pixels(archive.read("color.png"))
    assert (width, height) == (192, 192)
    width, height, pixels = _png_pixels(archive.read("outline.png"))
    assert (width, height) == (32, 32)
    # The outline icon is white on transparent: every pixel is one or the other.
    assert {p for p in pixels} == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


def test_the_app_id_is_stable_for_a_bot() -> None:
    first = manifest(client_id=CLIENT_ID, domain="a.example.com")["id"]
    assert manifest(client_id=CLIENT_ID, domain="b.example.com")["id"] == first
    assert (
        manifest(client_id="d0d0d0d0-0000-4000-8000-00000000b07a", domain="a.example.com")["id"]
        != first
    )


def test_a_domain_that_is_not_a_host_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="--domain"):
        manifest(client_id=CLIENT_ID, domain="https://copilot.example.com/")
