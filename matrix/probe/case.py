"""The public way to declare a model case.

This module runs inside cells (any Python from 3.9, any torch from 2.0), so it
imports nothing beyond the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Case:
    """One model the probe exports and checks.

    id           -- stable "category/name"; the category is the part before "/".
    build        -- () -> (model, example_args); the probe seeds torch with `seed`
                    before calling it, so weights and inputs are deterministic.
    description  -- one line: the real-world situation the case stands for.
    dynamic      -- per positional arg, {axis: dim_name} or None; a name shared by
                    two args is the same dimension.
    dynamic_sizes-- {dim_name: [sizes]} tried by the dynamic stage (default: twice
                    the example size, or 3 where that is 1).
    inputs       -- optional (sizes: {dim_name: int}) -> args for the dynamic stage,
                    for inputs random data cannot stand for (token ids, masks).
    rtol, atol   -- override the per-dtype tolerances; say why in the case.
    devices      -- devices the case applies to.
    requires     -- version requirements such as "torch>=2.5"; unmet ones make the
                    case `skipped` with the requirement as the reason.
    fixes        -- for a workaround case, the id of the problem case it fixes.
    """

    id: str
    build: Callable[[], Tuple[Any, Tuple[Any, ...]]]
    description: str = ""
    dynamic: Optional[Sequence[Optional[Mapping[int, str]]]] = None
    dynamic_sizes: Mapping[str, Sequence[int]] = field(default_factory=dict)
    inputs: Optional[Callable[[Mapping[str, int]], Tuple[Any, ...]]] = None
    rtol: Optional[float] = None
    atol: Optional[float] = None
    devices: Tuple[str, ...] = DEVICES
    requires: Tuple[str, ...] = ()
    fixes: Optional[str] = None
    seed: int = 0

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
        for axes in self.dynamic or ():
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
    def dim_names(self) -> Tuple[str, ...]:
        """Declared dynamic dimension names, in order of first appearance."""
        names: list = []
        for axes in self.dynamic or ():
            for name in (axes or {}).values():
                if name not in names:
                    names.append(name)
        return tuple(names)


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
