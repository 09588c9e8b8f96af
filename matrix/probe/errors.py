"""Turn a failure into the result's `error` object: a first line, a signature
that groups the same failure across versions, a kind from known patterns, and
a hint where a workaround is known."""

from __future__ import annotations

import os
import re
import tempfile
import traceback
from typing import Any, Dict, List, Optional, Tuple

TRACEBACK_LINES = 40
TRACEBACK_CHARS = 4000


class CheckFailed(Exception):
    """Raised by the probe's own checks (parity, dynamic), already classified."""

    def __init__(self, kind: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail


# (kind, pattern); the first match over the whole exception chain wins.
# Named groups become the error's `detail` (op, opset, ...).
PATTERNS: List[Tuple[str, re.Pattern[str]]] = [(kind, re.compile(p, re.S)) for kind, p in [
    ("missing_dependency", r"No module named '(?P<module>[\w.]+)'"),
    ("incompatible_versions", r"has been dropped since (?P<package>\w+) (?P<version>\d+(?:\.\d+)*)|"
                              r"onnxscript\._framework_apis\.torch_\d+_\d+|requires (?:onnxscript|onnx|torch)\s*[<>=]"),
    ("unsupported_operator", r"Exporting the operator '?(?P<op>[\w:.]+)'? to ONNX opset version (?P<opset>\d+) is not supported"),
    ("unsupported_operator", r"(?:No decompositions registered for|Unsupported FX nodes|is not supported by the ONNX exporter|"
                             r"not in the ONNX registry|[Nn]o ONNX function)[^\n]*?(?P<op>(?:aten|prims|[\w]+)(?:::|\.)[\w.]+)"),
    ("unsupported_operator", r"Unsupported: ONNX export of operator (?P<op>\w+)"),
    ("unsupported_dtype", r"(?P<dtype>Complex\w*|complex\d*|BFloat16|Float8\w*)[^\n]*(?:is not supported|unexpected tensor scalar type|not supported)"),
    ("ir_too_new", r"Unsupported model IR version: (?P<ir>\d+), max supported IR version: (?P<max_ir>\d+)"),
    ("opset_too_new", r"(?:Opset|opset) (?P<opset>\d+) is under development(?:.*?ai\.onnx is till opset (?P<max_opset>\d+))?|"
                      r"ai\.onnx[^\n]*?opset[^\n]*?(?P<opset2>\d+)[^\n]*?not (?:yet )?supported"),
    ("unregistered_op", r"(?P<op>[\w.]*:?\w+)\(-?\d+\) is not a registered function/op"),
    ("missing_kernel", r"Could not find an implementation for (?P<op>\w+)\((?P<opset>\d+)\) node"),
    ("dtype_binding", r"Unexpected input data type|Actual: \(tensor\((?P<actual>\w+)\)\) , expected: \(tensor\((?P<expected>\w+)\)\)"),
    ("type_mismatch", r"Type parameter \(\w+\) of Optype \((?P<op>\w+)\) bound to different types|Type Error: Type [^\n]*? is invalid"),
    ("shape_binding", r"Got invalid dimensions for input|index: \d+ Got: \d+ Expected: \d+"),
    ("baked_shape", r"cannot be reshaped to the requested shape|Input shape:\{[^}]*\}, requested shape|Non-zero status code returned while running (?P<op>Reshape|Expand|Concat|Slice)"),
    ("data_dependent_guard", r"GuardOnDataDependentSymNode|data-dependent expression|Could not guard on data-dependent|could not extract specialized integer from data-dependent"),
    ("constraint_violation", r"Constraints violated|ConstraintViolation|specialized it to be a constant|Not all values of [^\n]* satisfy"),
    ("graph_break", r"torch\._dynamo\.exc\.Unsupported|Dynamo does not know how to trace"),
    ("scripting_error", r"torch\.jit\.frontend|Tried to access nonexistent attribute|Expected a value of type"),
    ("checker", r"ValidationError|onnx\.checker|\[ShapeInferenceError\]|\[TypeInferenceError\]"),
    ("dtype_error", r"must have the same dtype|expected scalar type \w+ but found \w+|expected m1 and m2 to have the same dtype"),
    ("out_of_memory", r"out of memory|MemoryError|bad_alloc|can't allocate memory|Cannot allocate memory"),
]]

HINTS: Dict[str, str] = {
    "out_of_memory": "the result needed more memory than it may use (the probe's --memory-limit, per result, or the "
                     "device's): shrink the example inputs, or raise the limit if the model really needs it",
    "incompatible_versions": "the installed packages do not work together: pin the versions the message names",
    "missing_dependency": "the dynamo exporter needs onnxscript: pip install onnxscript (a version that fits this torch)",
    "unsupported_operator": "rewrite the construct with supported ops, raise the opset, or register a translation "
                            "(custom_translation_table for dynamo, register_custom_op_symbolic for torchscript)",
    "unsupported_dtype": "cast to a supported dtype around the op, or compute real and imaginary parts separately",
    "ir_too_new": "the model's IR is newer than this onnxruntime reads: upgrade onnxruntime or pin an older onnx for export",
    "opset_too_new": "export with a lower opset_version or upgrade onnxruntime",
    "unregistered_op": "onnxruntime knows no such op: export standard ops, or register the custom op's library "
                       "with SessionOptions.register_custom_ops_library",
    "missing_kernel": "onnxruntime has no kernel for this op, opset and dtype on this provider: cast to a supported dtype "
                      "or use a provider that has it",
    "dtype_binding": "feed the input in the dtype the graph declares, or cast inside the model (x.float())",
    "type_mismatch": "mixed dtypes reached one ONNX node: cast inputs to one dtype inside the model before export",
    "shape_binding": "the input's shape is not the one the graph declares: declare the dimension dynamic",
    "declared_dim_specialized": "the exporter fixed a dimension you declared dynamic (a Python loop or int() over "
                                "its size, a size-dependent branch): with dynamo, Dim.AUTO or torch._check shows "
                                "where; derive sizes from x.shape in tensor ops, or export with the other exporter",
    "baked_shape": "a size was recorded as a constant: derive shapes from x.shape inside forward and declare the "
                   "dimension dynamic (dynamic_axes / dynamic_shapes)",
    "data_dependent_guard": "control flow or sizes depend on tensor values: use torch._check / torch.cond, or avoid .item()",
    "constraint_violation": "a declared dynamic dimension was specialised (often an example size of 0 or 1): use an "
                            "example size of at least 2 or relax the constraint",
    "graph_break": "the dynamo exporter cannot trace this Python construct: use the torchscript exporter or rewrite it",
    "checker": "the exporter wrote a model the ONNX checker rejects: try the other exporter or another opset",
    "dtype_error": "eager PyTorch rejects the dtypes: cast the inputs to the model's parameter dtype",
    "value_mismatch": "outputs differ beyond tolerance: check required_atol; fp16 and fused kernels drift",
    "crash": "the process died in native code: try the other exporter, another opset, or another onnxruntime",
    "timeout": "the case ran past its time limit",
}

# The sentence that matters, where onnxruntime puts it after a prelude ("[ONNXRuntimeError] : 1 :
# FAIL : Load model from <path> failed:<source file>:<line> <C++ signature> ...").
SENTENCES = {kind: [re.compile(p) for p in patterns] for kind, patterns in {
    "ir_too_new": [r"Unsupported model IR version: \d+, max supported IR version: \d+"],
    "opset_too_new": [r"Opset \d+ is under development and support for this is limited\.",
                      r"Current official support for domain ai\.onnx is till opset \d+\."],
}.items()}
# The dynamo exporter names the step that failed ("… This is step 1/3 of exporting the model to
# ONNX"): what a remedy can change depends on it (remedies.py). After step 3 comes the optimisation.
EXPORT_STEP = re.compile(r"This is step (?:\x1b\[\d+m)?(?P<step>[123])/3")
STEP_NAMES = {"1": "capture", "2": "decompose", "3": "translate"}

ORT_PRELUDE = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (?:Load model from .*? failed:)?"
                          r"(?:\S+\.(?:cc|h|cpp|hpp):\d+ (?:[\w:~<>, *&]*\((?:[^()]|\([^()]*\))*\)\s*(?:const\s*)?)?)?")

NORMALISE = [
    (re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.\-<>@+]+){2,}"), "<path>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"torch\.Size\(\[[^\]]*\]\)"), "<shape>"),
    (re.compile(r"[\[(\{]\s*-?\d+(?:\s*,\s*-?\d+)*\s*,?\s*[\])\}]"), "<shape>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?![\w])"), "<n>"),
    (re.compile(r"\s+"), " "),
]


_PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SITE_PACKAGES = re.compile(r"""(?<![\w.<>])/[^\s'"<>]*?/(?:site|dist)-packages(?=/|\b)""")
_PYTHON_LIB = re.compile(r"""(?<![\w.<>])/[^\s'"<>]*?/lib/python3\.\d+(?=/)""")


def _prefix(path: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.<>])" + re.escape(path.rstrip("/")) + r"(?=/|\b|$)")


def _machine_places() -> List[Tuple[re.Pattern[str], str]]:
    """This machine's own folders, longest first: none of them may reach a result or the report."""
    places = [(_PROJECT, "<project>"), (os.path.expanduser("~"), "<home>"), (tempfile.gettempdir(), "<tmp>")]
    return [(_prefix(path), name) for path, name in sorted(places, key=lambda p: -len(p[0]))
            if path and path.rstrip("/").count("/") >= 1 and len(path.rstrip("/")) > 1]


_PLACES = _machine_places()


def scrub(text: str, workdir: Optional[str] = None) -> str:
    """Paths in a message or traceback as places, not as this machine's folders: the per-result
    folder, installed packages, Python's own library, the project, the home and temp folders."""
    if workdir:
        text = text.replace(workdir, "<workdir>")
    text = _SITE_PACKAGES.sub("<site-packages>", text)
    text = _PYTHON_LIB.sub("<python>", text)
    for pattern, name in _PLACES:
        text = pattern.sub(name, text)
    return text


def signature(message: str) -> str:
    """The message with numbers, addresses, paths and shapes normalised."""
    for pattern, repl in NORMALISE:
        message = pattern.sub(repl, message)
    return message.strip()[:300]


def _chain(exc: BaseException) -> List[BaseException]:
    seen: List[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


MATRIX_MODULES = ("onnxscript", "onnx", "onnxruntime", "torch")


def hint(kind: Optional[str], detail: Dict[str, Any]) -> Optional[str]:
    """The kind's hint; a module the user's case needs gets its own (the environment lacks it,
    not the model)."""
    module = str(detail.get("module") or "").split(".")[0]
    if kind == "missing_dependency" and module and module not in MATRIX_MODULES:
        return (f"the environment lacks the module {module!r}, not the model: name the package that provides it in "
                f"the spec's [run] requirements (e.g. requirements = [\"{module}\"]) and every cell installs it")
    return HINTS.get(kind or "")


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().strip("#").strip()
        if line and not line.startswith("Traceback"):
            return line[:500]
    return ""


def readable(kind: Optional[str], message: str) -> str:
    """The message's first line without onnxruntime's prelude; for a known kind, its sentences."""
    found = [m.group(0) for pattern in SENTENCES.get(kind or "", []) for m in [pattern.search(message)] if m]
    return " ".join(found) if found else first_line(ORT_PRELUDE.sub("", message.strip()))


def classify(text: str) -> Tuple[Optional[str], Dict[str, str]]:
    for kind, pattern in PATTERNS:
        match = pattern.search(text)
        if match:
            return kind, {k: v for k, v in match.groupdict().items() if v is not None}
    return None, {}


def build(kind: Optional[str], type_name: str, message: str, text: str, tb: str = "",
          detail: Optional[Dict[str, Any]] = None, workdir: Optional[str] = None) -> Dict[str, Any]:
    """The `error` object; `text` is what classification searches; paths are scrubbed (the
    per-result `workdir` differs on every run: results stay comparable)."""
    if kind is None:
        kind, found = classify(text)
        detail = {**found, **(detail or {})}
    line = readable(kind, scrub(message, workdir)) or type_name  # scrubbed first: a long path takes no room
    lines = scrub(tb, workdir).strip().splitlines()[-TRACEBACK_LINES:]
    return {
        "type": type_name,
        "message": line,
        "signature": signature(f"{type_name}: {line}"),
        "kind": kind or "other",
        "detail": detail or {},
        "hint": hint(kind, detail or {}),
        "traceback": "\n".join(lines)[-TRACEBACK_CHARS:],
    }


def from_exception(exc: BaseException, workdir: Optional[str] = None) -> Dict[str, Any]:
    if isinstance(exc, CheckFailed):
        return build(exc.kind, "CheckFailed", str(exc), str(exc), detail=exc.detail, workdir=workdir)
    chain = _chain(exc)
    # The deepest cause usually says what went wrong; wrappers add "step 1/3 failed".
    root = next((e for e in reversed(chain) if first_line(str(e))), chain[0])
    text = "\n".join(f"{type(e).__name__}: {e}" for e in chain)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    step = EXPORT_STEP.search(text)
    return build(None, type(root).__name__, str(root), text, tb, workdir=workdir,
                 detail={"export_step": STEP_NAMES[step.group("step")]} if step else None)
