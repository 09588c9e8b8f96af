"""Cross-version compatibility matrix for PyTorch → ONNX → ONNX Runtime.

Only the case API is imported here: this package is also imported inside cells,
where nothing but the standard library, numpy, torch, onnx and onnxruntime exists.
"""

from matrix.probe.case import Case, case

__all__ = ["Case", "case"]
__version__ = "0.1.0"
