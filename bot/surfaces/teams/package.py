"""The Teams app package: manifest.json (schema 1.25) and the two icons, zipped for upload."""

from __future__ import annotations

import io
import json
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

from bot.errors import ConfigError

MANIFEST_VERSION = "1.25"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = (0x2B, 0x6C, 0xB0)
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)

COMMANDS = (
    ("prioritize", "Rank a project's open tasks: prioritize [project]"),
    ("plan sprint", "Propose the next sprint: plan sprint [project] [sprint name] [capacity]"),
    ("retro", "A finished sprint's retrospective: retro [project] [sprint]"),
    ("settings", "Digest schedules, weekly hours and linked projects (our personal chat)"),
    ("estimate", "Propose Story Points for open tasks without one: estimate [project]"),
    ("forecast", "When will it land? forecast [project] [scope]"),
    ("nudges", "Your daily nudges about tasks at risk: nudges on | nudges off"),
    ("help", "What the copilot can do, and how to ask"),
)


def manifest(*, client_id: str, domain: str, version: str = "1.0.0") -> dict[str, Any]:
    """manifest.json for the bot `client_id`, served from `domain`."""
    if not _DOMAIN.match(domain):
        raise ConfigError(
            f"--domain is invalid: {domain!r} is not a host name like copilot.example.com"
        )
    site = f"https://{domain}/"
    scopes = ["team", "groupChat", "personal"]
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        # Stable for a bot: uploading a new package updates the same app.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"teams-app:{client_id}")),
        "developer": {
            "name": "Asana Copilot",
            "websiteUrl": site,
            "privacyUrl": site,
            "termsOfUseUrl": site,
        },
        "name": {"short": "Asana Copilot", "full": "Asana Copilot for Teams"},
        "description": {
            "short": "Prioritize, plan sprints and catch overloads in Asana, approved in Teams",
            "full": (
                "Ranks a project's Asana backlog, proposes the next sprint and flags people "
                "forecast over capacity, as cards in the channel. Nothing is written to Asana "
                "until an approver presses Approve; every decision is audited. Posts a stand-up "
                "digest every working morning."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": client_id,
                "scopes": scopes,
                "isNotificationOnly": False,
                "supportsFiles": False,
                "supportsCalling": False,
                "supportsVideo": False,
                "commandLists": [
                    {
                        "scopes": scopes,
                        "commands": [{"title": t, "description": d} for t, d in COMMANDS],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
    }


def _png(size: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """An RGBA PNG drawn by `pixel(x, y)`."""
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def color_icon() -> bytes:
    """192×192, full color: a white ring on the accent color."""

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        d2 = (x - 96) ** 2 + (y - 96) ** 2
        return (255, 255, 255, 255) if 44**2 <= d2 <= 60**2 else (*ACCENT, 255)

    return _png(192, pixel)


def outline_icon() -> bytes:
    """32×32 outline: white on transparent, as Teams requires."""

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        d2 = (x - 15.5) ** 2 + (y - 15.5) ** 2
        return (255, 255, 255, 255) if 9**2 <= d2 <= 12**2 else (0, 0, 0, 0)

    return _png(32, pixel)


def build_package(*, client_id: str, domain: str, version: str = "1.0.0") -> bytes:
    """The zip to upload in Teams (Apps → Manage your apps → Upload an app)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        body = json.dumps(manifest(client_id=client_id, domain=domain, version=version), indent=2)
        archive.writestr("manifest.json", body)
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()
