"""The built-in corpus, one module per category.

Case modules import torch, so only the probe (inside a cell) imports them; the
orchestrator learns about cases from results and from `python -m matrix.probe --list`.
"""

MODULES = ("layers", "operators", "dynamic", "dtypes", "control", "numerics", "attention", "blocks",
           "models_transformers", "models_vision")
