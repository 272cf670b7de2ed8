"""The domain core imports nothing of ours outside bot.domain and no vendor SDK or I/O module."""

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain"
FORBIDDEN = {
    "asana",
    "slack_sdk",
    "slack_bolt",
    "openai",
    "sqlite3",
    "sqlite_utils",
    "requests",
    "urllib3",
    "httpx",
    "socket",
    "http",
    "jinja2",
    "apscheduler",
}
ALLOWED_OURS = "bot.domain"


def test_domain_modules_are_pure():
    offenders = []
    for path in DOMAIN.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if root in FORBIDDEN or (root == "bot" and not name.startswith(ALLOWED_OURS)):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
