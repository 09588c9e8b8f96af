"""The status vocabulary, shared by the probe, the summary and the report.

Standard library only: the probe imports it inside cells.
"""

from __future__ import annotations

from typing import Dict, NamedTuple


class Status(NamedTuple):
    name: str
    glyph: str  # tells the status without colour
    colour: str  # Okabe–Ito palette, safe for colour-blind readers
    meaning: str


STATUSES: Dict[str, Status] = {s.name: s for s in [
    Status("pass", "✓", "#009E73", "exported, loaded and matched eager within tolerance"),
    Status("mismatch", "≠", "#E69F00", "ran, but values differ beyond tolerance"),
    Status("dynamic_error", "↔", "#F0E442", "fails or mismatches at another input shape"),
    Status("export_error", "✗", "#D55E00", "torch.onnx.export raised"),
    Status("invalid_model", "!", "#CC79A7", "the ONNX checker rejected the exported model"),
    Status("load_error", "⊘", "#0072B2", "onnxruntime refused to load the model"),
    Status("run_error", "⚡", "#56B4E9", "onnxruntime failed while running the model"),
    Status("reference_error", "∅", "#999999", "eager PyTorch itself fails: the case is not valid here"),
    Status("crash", "☠", "#000000", "the process died (signal recorded)"),
    Status("timeout", "◔", "#666666", "killed after the per-case time limit"),
    Status("skipped", "–", "#DDDDDD", "not applicable here (reason recorded)"),
    Status("env_error", "⚙", "#882255", "the environment could not be built"),
]}

# Which failure status a stage leads to.
FAILURE_STATUS = {
    "reference": "reference_error",
    "export": "export_error",
    "check": "invalid_model",
    "load": "load_error",
    "run": "run_error",
    "parity": "mismatch",
    "dynamic": "dynamic_error",
}
STAGES = tuple(FAILURE_STATUS)
# The stages of a cell's export side (torch); the rest are its runtime side's (onnxruntime).
EXPORT_STAGES = STAGES[:3]
