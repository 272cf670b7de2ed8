"""Regenerate asana_spec_operations.json from Asana's OpenAPI spec (not run by the tests).

    git --git-dir=<mirror of Asana/openapi> show HEAD:defs/asana_oas.yaml > /tmp/asana_oas.yaml
    python tests/integration/asana_spec_extract.py /tmp/asana_oas.yaml <commit>

Keeps, for each operation the app sends, only what the recorded-traffic test checks: the query
parameters it declares and the opt_fields names of its enum, with the operationId and the line of
the spec each comes from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OPERATIONS = (
    ("GET", "/workspaces"),
    ("GET", "/workspaces/{workspace_gid}/typeahead"),
    ("GET", "/workspaces/{workspace_gid}/custom_fields"),
    ("GET", "/users"),
    ("GET", "/users/{user_gid}"),
    ("GET", "/projects/{project_gid}"),
    ("GET", "/projects/{project_gid}/tasks"),
    ("POST", "/projects/{project_gid}/addCustomFieldSetting"),
    ("GET", "/tasks/{task_gid}"),
    ("PUT", "/tasks/{task_gid}"),
    ("GET", "/tasks/{task_gid}/stories"),
    ("POST", "/tasks"),
    ("POST", "/tasks/{task_gid}/stories"),
    ("POST", "/custom_fields"),
    ("GET", "/custom_fields/{custom_field_gid}"),
    ("POST", "/custom_fields/{custom_field_gid}/enum_options"),
    ("PUT", "/enum_options/{enum_option_gid}"),
    ("POST", "/batch"),
    ("GET", "/tasks"),
    ("GET", "/webhooks"),
    ("POST", "/webhooks"),
    ("GET", "/webhooks/{webhook_gid}"),
    ("DELETE", "/webhooks/{webhook_gid}"),
)
OUT = Path(__file__).with_name("asana_spec_operations.json")


def main(spec_path: str, commit: str) -> None:
    import yaml  # only for regenerating; the tests read the JSON

    text = Path(spec_path).read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    lines = text.splitlines()

    def line_of(needle: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if line.strip() == needle)

    def resolve(param: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in param:
            return spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        return param

    entries = []
    for method, path in OPERATIONS:
        item = spec["paths"][path]
        op = item[method.lower()]
        params = [resolve(p) for p in (*item.get("parameters", []), *op.get("parameters", []))]
        query = [p for p in params if p["in"] == "query"]
        opt_fields = next(
            (p["schema"]["items"]["enum"] for p in query if p["name"] == "opt_fields"), []
        )
        entries.append(
            {
                "method": method,
                "path": path,
                "operationId": op["operationId"],
                "source": "defs/asana_oas.yaml line "
                + str(line_of("operationId: " + op["operationId"])),
                "query": sorted(p["name"] for p in query),
                "required_query": sorted(p["name"] for p in query if p.get("required")),
                "opt_fields": sorted(opt_fields),
            }
        )
    document = {
        "spec": {
            "repository": "https://github.com/Asana/openapi",
            "path": "defs/asana_oas.yaml",
            "commit": commit,
        },
        "note": (
            "What Asana's OpenAPI spec declares for each operation the app sends: query "
            "parameter names and the opt_fields enum. Regenerate with asana_spec_extract.py."
        ),
        "operations": entries,
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
