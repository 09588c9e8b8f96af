"""The probe: the only code that runs inside a cell.

It imports the standard library, numpy, torch, onnx, onnxruntime and (where
present) onnxscript, and nothing else, so that it runs unchanged on every
Python from 3.9 and torch from 2.0 that a cell may hold. Heavy modules are
imported lazily, inside the functions that need them.
"""

PROBE_VERSION = "5"  # 5: suites (aten, onnx-node); a 0-d tensor stays 0-d in a bundle (4: blame, dtypes for remedies)
SCHEMA = 1
