"""Jinja2 rendering of the LLM prompts in prompts/; every prompt lives in a template file."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@cache
def _environment(directory: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,  # plain text for a model, not HTML
        keep_trailing_newline=False,
    )


def prompt_version(name: str, directory: Path = PROMPTS_DIR) -> str:
    """`name@hash` of the template source: editing a prompt invalidates cached answers."""
    source = (directory / f"{name}.j2").read_bytes()
    return f"{name}@{hashlib.sha256(source).hexdigest()[:12]}"


def render_messages(
    name: str, directory: Path = PROMPTS_DIR, **context: Any
) -> list[dict[str, str]]:
    """Render the template's `system` and `user` blocks as chat messages."""
    template = _environment(str(directory)).get_template(f"{name}.j2")
    ctx = template.new_context(context)
    messages = []
    for role in ("system", "user"):
        text = "".join(template.blocks[role](ctx)).strip()
        messages.append({"role": role, "content": text})
    return messages


def data_json(value: Any) -> str:
    """JSON for untrusted text inside a prompt: `<` and `>` escaped so no tag can be closed."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")
