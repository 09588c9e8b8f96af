"""A bundle: one exported model and the data that checks it, between the export side of a cell
and its runtime side, in the layout of ONNX's backend tests (which onnxruntime's own test runner
also reads), so that any bundle is a ready bug report for a runtime:

    <case>--<exporter>--<opset>--<device>/
        model.onnx                    (and its external data, when the exporter wrote some)
        test_data_set_0/input_0.pb …  the example inputs, named as the model's inputs
        test_data_set_0/output_0.pb … eager PyTorch's outputs at them
        test_data_set_1/ …            one data set per size the dynamic stage tries
        bundle.json                   the case, the export side's versions and metrics; the
                                      stage, status and error when the export side failed
        repro.py                      reproduces the runtime side with onnxruntime alone

Writing one needs onnx (the export side has it); reading one needs numpy only: the runtime side
has onnxruntime and numpy, no torch and no onnx.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

BUNDLE_FILE = "bundle.json"
MODEL = "model.onnx"
BUNDLE_FORMAT = 1
BFLOAT16 = 16  # onnx.TensorProto.BFLOAT16; numpy has no such dtype, so its arrays hold the raw bits


class BundleError(Exception):
    """A folder that is not a readable bundle."""


def folder_name(case_id: str, exporter: str, opset: Optional[int], device: str) -> str:
    """operators__tril--dynamo--default--cpu: one folder per (case, exporter, opset, device)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case_id.replace("/", "__"))
    return f"{safe}--{exporter}--{opset or 'default'}--{device}"


def data_set(index: int) -> str:
    return f"test_data_set_{index}"


def write_data_set(folder: str, index: int, inputs: Sequence[Tuple[str, np.ndarray, bool]],
                   outputs: Sequence[Tuple[str, np.ndarray, bool]]) -> None:
    """(name, array, is_bfloat16_bits) for each input and output, as TensorProto files."""
    from onnx import helper, numpy_helper

    target = os.path.join(folder, data_set(index))
    os.makedirs(target, exist_ok=True)
    for prefix, tensors in (("input", inputs), ("output", outputs)):
        for i, (name, array, bf16) in enumerate(tensors):
            if bf16:
                proto = helper.make_tensor(name, BFLOAT16, array.shape, np.asarray(array, order="C").tobytes(),
                                           raw=True)
            else:
                proto = numpy_helper.from_array(np.asarray(array, order="C"), name)
            with open(os.path.join(target, f"{prefix}_{i}.pb"), "wb") as f:
                f.write(proto.SerializeToString())


def _tensor(path: str) -> Tuple[str, np.ndarray, bool]:
    # repro.py's reader: the runtime side, like a bundle's reader, has no onnx
    from matrix.probe.repro import read_tensor

    return read_tensor(path)


def read_data_set(folder: str, index: int) -> Tuple[List[Tuple[str, np.ndarray, bool]],
                                                    List[Tuple[str, np.ndarray, bool]]]:
    """(inputs, outputs) of one data set, each (name, array, is_bfloat16_bits), in file order."""
    target = os.path.join(folder, data_set(index))

    def files(prefix: str) -> List[str]:
        count = 0
        while os.path.exists(os.path.join(target, f"{prefix}_{count}.pb")):
            count += 1
        return [os.path.join(target, f"{prefix}_{i}.pb") for i in range(count)]

    if not os.path.isdir(target):
        raise BundleError(f"{folder}: no {data_set(index)}")
    return [_tensor(p) for p in files("input")], [_tensor(p) for p in files("output")]


def widened(array: np.ndarray, bf16: bool) -> np.ndarray:
    """bfloat16 bits as float32 (exactly: a bfloat16 is the top half of a float32)."""
    from matrix.probe.repro import widened as widen

    return widen(array, bf16)


def write_meta(folder: str, meta: Dict[str, Any]) -> None:
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, BUNDLE_FILE + ".tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(dict(meta, format=BUNDLE_FORMAT), f, indent=1, default=str)
    os.replace(temporary, os.path.join(folder, BUNDLE_FILE))  # a bundle.json is whole or absent


def read_meta(folder: str) -> Dict[str, Any]:
    path = os.path.join(folder, BUNDLE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except OSError as exc:
        raise BundleError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BundleError(f"{path}: not a bundle ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: not a bundle of format {BUNDLE_FORMAT}")
    for key in ("case", "exporter", "device", "outcome"):
        if key not in meta:
            raise BundleError(f"{path}: no {key!r}")
    return meta


def find(root: str) -> List[str]:
    """Every bundle folder under root, in name order."""
    if not os.path.isdir(root):
        raise BundleError(f"{root}: no such folder of bundles")
    return sorted(os.path.join(root, name) for name in os.listdir(root)
                  if os.path.isfile(os.path.join(root, name, BUNDLE_FILE)))
