"""Reproduce this bundle's result with onnxruntime alone: python repro.py [--provider CUDAExecutionProvider]

Copied into every bundle by the onnx-matrix project. It loads model.onnx, runs it on each
test_data_set_N/input_*.pb and compares with output_*.pb (eager PyTorch's outputs) within the
tolerances in bundle.json. Needs only onnxruntime and numpy (onnxruntime's own dependency).
Exit 0: every data set matches; 1: a difference or an onnxruntime error (printed).
"""

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
# TensorProto.DataType → numpy; bfloat16 (16) is read as its raw bits and widened for comparing.
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
          9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 14: np.complex64,
          15: np.complex128, 16: np.int16}


def _varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def read_tensor(path):
    """(name, array, is_bfloat16) from a TensorProto file. Parsed here because onnx, which has the
    class, need not be installed: the files hold dims (1), data_type (2), name (8), raw_data (9)."""
    with open(path, "rb") as f:
        data = f.read()
    dims, dtype, name, raw, i = [], 1, "", b"", 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            if field == 1:
                dims.append(value)
            elif field == 2:
                dtype = value
        elif wire == 2:
            size, i = _varint(data, i)
            chunk, i = data[i:i + size], i + size
            if field == 1:  # packed dims
                j = 0
                while j < len(chunk):
                    value, j = _varint(chunk, j)
                    dims.append(value)
            elif field == 8:
                name = chunk.decode()
            elif field == 9:
                raw = chunk
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"{path}: unexpected protobuf wire type {wire}")
    array = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(dims)
    return name, array, dtype == 16


def widened(array, bf16):
    return (array.astype(np.uint16).astype(np.uint32) << 16).view(np.float32) if bf16 else array


def data_set(index):
    folder = os.path.join(HERE, f"test_data_set_{index}")

    def files(prefix):
        count = 0
        while os.path.exists(os.path.join(folder, f"{prefix}_{count}.pb")):
            count += 1
        return [read_tensor(os.path.join(folder, f"{prefix}_{n}.pb")) for n in range(count)]

    return files("input"), files("output")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="CPUExecutionProvider")
    args = parser.parse_args()
    with open(os.path.join(HERE, "bundle.json"), encoding="utf-8") as f:
        meta = json.load(f)
    tolerances = meta["data"]["tolerances"]
    print(f"{meta['case']} ({meta['exporter']} exporter, torch {meta['versions']['torch']}) "
          f"on onnxruntime {onnxruntime.__version__}, {args.provider}")
    session = onnxruntime.InferenceSession(os.path.join(HERE, "model.onnx"), providers=[args.provider])
    wanted = {i.name for i in session.get_inputs()}
    index = 0
    while os.path.isdir(os.path.join(HERE, f"test_data_set_{index}")):
        inputs, outputs = data_set(index)
        feed = {n: onnxruntime.OrtValue.ortvalue_from_numpy_with_onnx_type(a, 16) if bf16 else
                onnxruntime.OrtValue.ortvalue_from_numpy(np.asarray(a, order="C"))
                for n, a, bf16 in inputs if n in wanted}
        actual = [v.numpy() for v in session.run_with_ort_values(None, feed)]
        if len(actual) != len(outputs):
            sys.exit(f"test_data_set_{index}: {len(actual)} outputs, eager PyTorch gave {len(outputs)}")
        for n, ((name, want, bf16), got, (rtol, atol)) in enumerate(zip(outputs, actual, tolerances)):
            want = widened(want, bf16)
            got = widened(got, bf16) if bf16 and got.dtype != np.float32 else got
            if want.dtype == np.bool_:  # compared exactly, as numbers
                want, got = want.astype(np.int8), got.astype(np.int8)
            try:
                np.testing.assert_allclose(got.astype(want.dtype), want, rtol=rtol, atol=atol,
                                           err_msg=f"test_data_set_{index} output {n} ({name})")
            except AssertionError as exc:
                print(exc, file=sys.stderr)
                sys.exit(1)
        print(f"test_data_set_{index}: {len(outputs)} outputs match")
        index += 1


if __name__ == "__main__":
    main()
