"""Everything bot/ imports is a runtime dependency, not a test extra: the demo installs `.`."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}


def test_every_third_party_import_of_the_package_is_a_runtime_dependency():
    distributions = packages_distributions()
    needed: dict[str, str] = {}
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "bot" or top in sys.stdlib_module_names:
                    continue
                for dist in distributions.get(top, [top]):
                    needed[dist.lower()] = f"{path.relative_to(ROOT)} imports {name}"
    runtime = declared() | {"slack-bolt", "slack-sdk"}
    normalized = {n.replace("_", "-") for n in runtime}
    missing = {d: where for d, where in needed.items() if d.replace("_", "-") not in normalized}
    assert missing == {}
