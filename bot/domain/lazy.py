"""Modules imported at their first use, not at start.

The numeric stacks (numpy, scipy, HiGHS) cost about 60 MiB of a process's memory; an instance
that never plans a sprint or forecasts capacity should not pay for them while idle (issue 11:
idle RSS within 100 MiB). Stdlib only, like the rest of the domain.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute read imports it (the import lock is shared)."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"
