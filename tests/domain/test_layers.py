"""Which code may import what: use cases and presenters know no chat surface, render/ keeps only
neutral modules, and no module-level import circle exists anywhere in bot/ (issue 12)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
SURFACE_IMPORTS = (
    "bot.surfaces",
    "bot.gateways.slack",
    "slack_sdk",
    "slack_bolt",
    "microsoft_teams",
)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _top_level_imports(path: Path) -> list[str]:
    """Imports run when the module loads (not those under TYPE_CHECKING or inside functions)."""
    tree = ast.parse(path.read_text())
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    names: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                    ).strip(".")
                names.append(base)
                names.extend(f"{base}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return names


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}: {name}"
        for path in paths
        for name in _top_level_imports(path) + _all_imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def _all_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_use_cases_domain_and_presenters_import_no_surface():
    paths = [
        *(BOT / "usecases").glob("*.py"),
        *(BOT / "domain").glob("*.py"),
        BOT / "presenters.py",
    ]
    assert _offenders(paths, SURFACE_IMPORTS) == []


def test_render_keeps_only_neutral_modules():
    """Block Kit and Adaptive Cards live under bot/surfaces; render/ is prompts, the chart and
    the notes every surface says."""
    assert _offenders(list((BOT / "render").glob("*.py")), SURFACE_IMPORTS) == []


def test_loading_the_core_loads_no_chat_sdk():
    """Not even by way of a helper module: the use cases, the domain and the presenters load."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import bot.usecases, bot.domain\n"
        "for package in (bot.usecases, bot.domain):\n"
        "    for info in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{info.name}')\n"
        "import bot.presenters\n"
        f"bad = {SURFACE_IMPORTS!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_no_module_level_import_circle_in_bot():
    modules = {_module(p): p for p in BOT.rglob("*.py")}
    graph = {
        name: {dep for dep in _top_level_imports(path) if dep in modules and dep != name}
        for name, path in modules.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                walk(dep)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert circles == []
