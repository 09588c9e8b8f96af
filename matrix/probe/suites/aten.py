"""The `aten` suite: torch's own operator database (`op_db`, the OpInfos torch tests itself with),
each OpInfo's first sample per dtype wrapped as a module that calls the operator, so both exporters
meet every operator the torch of the cell defines.

Runs inside the export side: it imports torch's testing package (which needs `expecttest`) only
when the suite is asked for. Every tensor of a sample is a model input; everything else (ints,
dtypes, lists of sizes) is a constant of the model, as the sample gives it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from matrix.probe.case import Case, NotAModel

DTYPES = ("float32", "float16", "int64", "bool")  # the first sample of each the operator supports
# Operators whose outputs are random draws: a model of them has no reference to compare with.
# torch's OpInfos do not say so in one field; the test suites skip them by name, as here.
RANDOM = ("bernoulli", "normal", "multinomial", "uniform", "exponential", "geometric", "cauchy", "log_normal",
          "rand_like", "randn_like", "randint_like", "randint", "randn", "rand", "nn.functional.dropout",
          "nn.functional.dropout2d", "nn.functional.dropout3d", "nn.functional.alpha_dropout",
          "nn.functional.feature_alpha_dropout", "nn.functional.rrelu", "nn.functional.gumbel_softmax",
          "poisson", "randperm", "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
          "empty_permuted")


def case_name(info: Any, dtype: str) -> str:
    """aten/unique-float32, aten/nn.functional.conv2d.stride_groups-float16."""
    name = info.name + (f".{info.variant_test_name}" if info.variant_test_name else "")
    return f"aten/{name}-{dtype}"


def cases() -> List[Case]:
    """One case per OpInfo × supported dtype of DTYPES; the sample is drawn when the case is built
    (in the result's own process), so listing the suite costs only the import of op_db."""
    import torch
    from torch.testing._internal import common_utils
    from torch.testing._internal.common_methods_invocations import op_db
    from torch.testing._internal.opinfo import core

    for module in (core, common_utils):
        if hasattr(module, "extract_test_fn"):
            # Drawing a sample looks for the running unittest.TestCase on the whole call stack
            # (inspect.stack(): ~15 ms, twice a sample); a probe runs none, so the answer is None.
            module.extract_test_fn = _no_test_running
    found: List[Case] = []
    for info in op_db:
        supported = info.supported_dtypes("cpu")
        for dtype in DTYPES:
            if getattr(torch, dtype) not in supported:
                continue
            rtol, atol = declared_tolerance(info, getattr(torch, dtype))
            found.append(Case(
                id=case_name(info, dtype), build=_builder(info.name, info.variant_test_name, dtype),
                description=f"aten operator {info.aten_name or info.name}: {info.name}"
                            f"{' (' + info.variant_test_name + ')' if info.variant_test_name else ''}"
                            f", first {dtype} sample of torch's OpInfo",
                rtol=rtol, atol=atol, devices=("cpu", "cuda"), suite="aten", operator=info.aten_name or info.name))
    return found


def _no_test_running() -> None:
    return None


def declared_tolerance(info: Any, dtype: Any) -> Tuple[Optional[float], Optional[float]]:
    """(rtol, atol) the OpInfo declares for this dtype in its toleranceOverride decorators (and
    precisionOverride's, an atol), the largest where several tests declare one; else (None, None):
    the probe's own per-dtype tolerances."""
    rtol = atol = None
    for decorated in getattr(info, "decorators", ()) or ():
        for decorator in getattr(decorated, "decorators", ()) or ():
            declared = getattr(decorator, "d", None)
            if isinstance(declared, dict) and dtype in declared:
                tol = declared[dtype]
                if hasattr(tol, "rtol"):
                    rtol = max(rtol or 0.0, float(tol.rtol))
                atol = max(atol or 0.0, float(getattr(tol, "atol", tol)))
    return rtol, atol


def _builder(name: str, variant: str, dtype: str) -> Any:
    def build() -> Tuple[Any, tuple]:
        return model_of(name, variant, dtype)

    build.__module__ = __name__
    return build


def _info(name: str, variant: str) -> Any:
    from torch.testing._internal.common_methods_invocations import op_db

    return next(i for i in op_db if i.name == name and i.variant_test_name == variant)


def model_of(name: str, variant: str, dtype: str) -> Tuple[Any, tuple]:
    """(a module calling the operator on the sample's tensors, those tensors)."""
    import torch
    from torch.utils import _pytree

    if name in RANDOM or name.split(".")[-1] in RANDOM:
        raise NotAModel("random operator: its outputs are draws, with no reference to compare")
    info = _info(name, variant)
    sample = next(iter(info.sample_inputs("cpu", getattr(torch, dtype), requires_grad=False)), None)
    if sample is None:
        raise NotAModel(f"torch's OpInfo has no {dtype} sample")
    leaves, spec = _pytree.tree_flatten((sample.input, tuple(sample.args), dict(sample.kwargs)))
    if "out" in sample.kwargs:
        raise NotAModel("an out= sample writes into its argument: not a model's output")
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
    if not positions:
        raise NotAModel("the sample has no tensor input: nothing to feed a model")
    tensors = tuple(leaves[i] for i in positions)
    constants = [None if i in positions else leaf for i, leaf in enumerate(leaves)]
    return _operator_call()(info.op, spec, constants, positions), tensors


def _operator_call() -> Any:
    import torch
    from torch.utils import _pytree

    class OperatorCall(torch.nn.Module):
        """forward(*tensors) = op(sample.input, *sample.args, **sample.kwargs), the tensors fed."""

        def __init__(self, op: Any, spec: Any, constants: List[Any], positions: List[int]) -> None:
            super().__init__()
            self.op, self.spec, self.constants, self.positions = op, spec, constants, positions

        def forward(self, *tensors: Any) -> Any:
            leaves = list(self.constants)
            for position, tensor in zip(self.positions, tensors):
                leaves[position] = tensor
            first, args, kwargs = _pytree.tree_unflatten(leaves, self.spec)
            return self.op(first, *args, **kwargs)

    return OperatorCall


def registry_detail(exporter: str, operator: str, opset: Optional[int]) -> Dict[str, Any]:
    """For an export that failed: whether the exporter of this torch has an entry for the
    operator — TorchScript's symbolic registry at the opset, the dynamo exporter's torchlib
    registry — so a missing entry is told apart from an entry that failed translating it."""
    name = f"aten::{operator}"
    try:
        entry = _torchscript_entry(name, opset) if exporter == "torchscript" else name in _dynamo_entries()
    except Exception as exc:  # noqa: BLE001 -- a torch whose registries are laid out otherwise
        return {"operator": name, "registered": None, "registry": f"{exporter}'s registry unread here ({exc})"}
    registry = ("TorchScript's symbolic registry" + (f" up to opset {opset}" if opset else "")
                if exporter == "torchscript" else "the dynamo exporter's registry (torchlib)")
    sentence = (f"{registry} has an entry for {name}: the exporter failed translating it" if entry else
                f"{registry} has no entry for {name}" + ("" if exporter == "torchscript" else
                                                       " (torch decomposes some operators before the registry)"))
    return {"operator": name, "registered": entry, "registry": sentence}


def _torchscript_entry(name: str, opset: Optional[int]) -> bool:
    import importlib
    import pkgutil

    import torch

    for path in ("torch.onnx._internal.torchscript_exporter", "torch.onnx"):  # from torch 2.9 / before
        try:
            package = importlib.import_module(path)
            registration = importlib.import_module(path + ".registration" if "torchscript" in path
                                                   else "torch.onnx._internal.registration")
        except ImportError:
            continue
        for module in pkgutil.iter_modules(package.__path__):  # each registers its opset's functions
            if module.name.startswith("symbolic_opset"):
                importlib.import_module(f"{path}.{module.name}")
        default = torch.onnx._constants.ONNX_DEFAULT_OPSET  # TorchScript's default opset
        return bool(registration.registry.is_registered_op(name, opset or default))
    raise ImportError("no TorchScript symbolic registry")


def _dynamo_entries() -> set:
    from torch.onnx._internal.exporter import _registration

    torchs_own = _registration._torchlib_registry.get_torchlib_ops()  # aten.abs.default, …
    names = {"aten::" + str(meta.fx_target).split(".")[1] for meta in torchs_own
             if str(meta.fx_target).startswith("aten.")}
    names.update(meta.qualified_name.split(".")[0] for meta in _registration.onnxscript_apis.get_torchlib_ops())
    return names
