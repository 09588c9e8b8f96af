"""Suites of cases beside the case corpus, chosen with --suite: each yields matrix.Case objects,
so their results go through the same stages, bundles and report as any case's."""

from __future__ import annotations

import importlib
from typing import List, Sequence

SUITES = ("cases", "aten", "onnx-node")  # "cases": the built-in corpus and users' --cases-from
DEFAULT = ("cases",)
_MODULES = {"aten": "aten", "onnx-node": "onnx_node"}


def unknown(suites: Sequence[str]) -> List[str]:
    return [s for s in suites if s not in SUITES]


def cases(suite: str) -> List[object]:
    """The cases of one suite other than the corpus."""
    return importlib.import_module(f"matrix.probe.suites.{_MODULES[suite]}").cases()
