"""The public way to declare a model case.

This module runs inside cells (any Python from 3.9, any torch from 2.0), so it
imports nothing beyond the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

# The name may start with "_": torch's operators __radd__, _softmax … are cases of the aten suite.
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]*/[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Case:
    """One model the probe exports and checks.

    id           -- stable "category/name"; the category is the part before "/".
    build        -- () -> (model, example_args) or (model, example_args, example_kwargs);
                    the probe seeds torch with `seed` before calling it, so weights and
                    inputs are deterministic. Keyword inputs (a dict of tensors, as
                    Hugging Face models take them) are the model's named ONNX inputs.
    description  -- one line: the real-world situation the case stands for.
    dynamic      -- per positional arg, {axis: dim_name} or None; or, for keyword
                    inputs, {input name: {axis: dim_name}}. A name shared by two
                    inputs is the same dimension.
    dynamic_sizes-- {dim_name: [sizes]} tried by the dynamic stage (default: twice
                    the example size, or 3 where that is 1).
    inputs       -- optional (sizes: {dim_name: int}) -> args (or a dict: kwargs) for the
                    dynamic stage, for inputs random data cannot stand for (token ids, masks).
    output_names -- the ONNX output names the exporter is given (default: its own).
    suite        -- the suite the case belongs to: "cases" (the corpus and users' cases), "aten"
                    (torch's operator database), "onnx-node" (ONNX's node tests).
    operator     -- for an operator's case (the aten suite), the aten operator it calls
                    ("fft_rfft"): an export failure says whether the exporter has an entry for it.
    library      -- the library the model comes from ("transformers", "torchvision",
                    "timm"); the report groups such cases as model families.
    rtol, atol   -- override the per-dtype tolerances; say why in the case.
    devices      -- devices the case applies to.
    requires     -- version requirements such as "torch>=2.5"; unmet ones make the
                    case `skipped` with the requirement as the reason.
    fixes        -- for a workaround case, the id of the problem case it fixes.
    source       -- for a model named on the command line (`--model`, probe/own_models.py): where
                    it comes from ({"model", "revision", "weights", "task"}); the weights' hash
                    is part of the case's hash, so a changed checkpoint is run again.
    """

    id: str
    build: Callable[[], Tuple[Any, Tuple[Any, ...]]]
    description: str = ""
    dynamic: Optional[Union[Sequence[Optional[Mapping[int, str]]], Mapping[str, Mapping[int, str]]]] = None
    dynamic_sizes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    inputs: Optional[Callable[[Mapping[str, int]], Tuple[Any, ...]]] = None
    rtol: Optional[float] = None
    atol: Optional[float] = None
    devices: Tuple[str, ...] = DEVICES
    requires: Tuple[str, ...] = ()
    fixes: Optional[str] = None
    seed: int = 0
    output_names: Optional[Tuple[str, ...]] = None
    library: Optional[str] = None
    suite: str = "cases"
    operator: Optional[str] = None
    source: Optional[Mapping[str, Any]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not ID_PATTERN.match(self.id):
            raise ValueError(f"case id {self.id!r} must look like 'category/name' (lowercase category)")
        if not callable(self.build):
            raise ValueError(f"case {self.id}: build must be callable")
        unknown = [d for d in self.devices if d not in DEVICES]
        if unknown:
            raise ValueError(f"case {self.id}: unknown device {unknown[0]!r}; expected one of {', '.join(DEVICES)}")
        if isinstance(self.requires, str):
            object.__setattr__(self, "requires", (self.requires,))
        if self.output_names is not None:
            object.__setattr__(self, "output_names", tuple(self.output_names))
        for axes in self.axes().values():
            if axes is not None and not all(isinstance(a, int) and isinstance(n, str) and n.isidentifier()
                                            for a, n in axes.items()):
                raise ValueError(f"case {self.id}: dynamic must map int axes to identifier names, got {axes!r}")
        unknown_dims = set(self.dynamic_sizes) - set(self.dim_names)
        if unknown_dims:
            raise ValueError(f"case {self.id}: dynamic_sizes names undeclared dimension {sorted(unknown_dims)[0]!r}")

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def keyword_dynamic(self) -> bool:
        """Whether `dynamic` names keyword inputs rather than positions."""
        return isinstance(self.dynamic, Mapping)

    def axes(self) -> Dict[Any, Mapping[int, str]]:
        """{position or input name: {axis: dim_name}} for every input with declared dimensions."""
        if isinstance(self.dynamic, Mapping):
            return {name: axes for name, axes in self.dynamic.items() if axes}
        return {i: axes for i, axes in enumerate(self.dynamic or ()) if axes}

    @property
    def dim_names(self) -> Tuple[str, ...]:
        """Declared dynamic dimension names, in order of first appearance."""
        names: list = []
        for axes in self.axes().values():
            for name in axes.values():
                if name not in names:
                    names.append(name)
        return tuple(names)


class NotAModel(Exception):
    """Raised by a case's build when what it stands for cannot be a model (an operator sample with
    no tensor input, a random operator): the result is `skipped` with this reason."""


def case(id: str, **fields: Any) -> Callable[[Callable], Case]:
    """Decorator form: the decorated function is the case's `build`.

        @matrix.case("layers/my_norm", description="...")
        def my_norm():
            return MyNorm(), (torch.randn(2, 8),)
    """

    def wrap(build: Callable) -> Case:
        if "description" not in fields and build.__doc__:
            fields["description"] = build.__doc__.strip().splitlines()[0]
        return Case(id=id, build=build, **fields)

    return wrap
