"""A model by name, resolved before any cell starts: `--model FOLDER`, `--model org/name` (a
Hugging Face hub id), `--model timm:NAME` or `--model torchvision:NAME`, and the spec's
`[[models]]` entries.

A folder is read where it is; a hub id is fetched once into huggingface_hub's cache
(`snapshot_download`, offline when HF_HUB_OFFLINE is set) and the cells read that snapshot, offline.
The task comes from the config's `architectures` when not given (and is said). The weights'
hash goes into the entry, so a changed checkpoint changes its case's hash and is run again. What
cannot work is said in one line before anything is written: a folder without a config, an id
neither cached nor reachable, a task the architecture has no head for, a model too large for
this machine's memory (estimated from its config and dtype before loading anything).

The cell side (probe/own_models.py) turns each entry into a case."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from matrix.errors import UserError
from matrix.probe.own_models import DTYPES, TASKS

# The suffix of a config's architecture → the task it was trained for.
ARCHITECTURE_TASKS = (("ForSequenceClassification", "text-classification"),
                      ("ForTokenClassification", "token-classification"), ("ForMaskedLM", "fill-mask"),
                      ("ForCausalLM", "text-generation"), ("LMHeadModel", "text-generation"),
                      ("ForCTC", "automatic-speech-recognition"),
                      ("ForConditionalGeneration", "text2text-generation"),
                      ("ForImageClassification", "image-classification"), ("Model", "feature-extraction"))
# transformers' auto mappings (model_type → class) that say whether an architecture has a task's head
HEADS = {"feature-extraction": ["MODEL_MAPPING_NAMES"],
         "text-classification": ["MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"],
         "token-classification": ["MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"],
         "fill-mask": ["MODEL_FOR_MASKED_LM_MAPPING_NAMES"],
         "text-generation": ["MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"],
         "text-generation-with-past": ["MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"],
         "text2text-generation": ["MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"],
         "image-classification": ["MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"],
         "automatic-speech-recognition": ["MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "MODEL_FOR_CTC_MAPPING_NAMES"]}
LIBRARIES = ("timm", "torchvision")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".json", ".model")  # what decides the model (and its config)
# eager weights, the exported graph's copy, the ONNX file onnxruntime reads, and room to work
MEMORY_FACTOR = 4
KEYS = {"model": str, "task": str, "revision": str, "dtype": str, "sequence": int, "image_size": int,
        "dynamic": list, "random_weights": bool}


def _bad(text: str, why: str) -> UserError:
    return UserError(f"--model {text}: {why}")


def _case_id(name: str, task: str, inferred: Optional[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or "model"
    return f"own/{slug}" + (f"-{task}" if inferred and task != inferred else "")


def infer_task(config: Mapping[str, Any]) -> Optional[str]:
    for architecture in config.get("architectures") or ():
        for suffix, task in ARCHITECTURE_TASKS:
            if architecture.endswith(suffix):
                if task == "text2text-generation" and "num_mel_bins" in config:
                    return "automatic-speech-recognition"
                return task
    return None


def heads(model_type: str) -> Optional[List[str]]:
    """The tasks transformers has a head for, for this model type; None without transformers here."""
    try:
        from transformers.models.auto import modeling_auto
    except ImportError:
        return None
    return [task for task, names in HEADS.items()
            if any(model_type in getattr(modeling_auto, name, {}) for name in names)]


def parameters(config: Mapping[str, Any]) -> int:
    """A transformer's parameter count from its config: embeddings, and per layer attention (4 h²)
    and the feed-forward (2 h × its width). Within a few per cent for the usual architectures."""
    def first(*names: str) -> int:
        return next((int(config[n]) for n in names if isinstance(config.get(n), (int, float))), 0)

    hidden = first("hidden_size", "n_embd", "d_model", "dim")
    layers = first("num_hidden_layers", "n_layer", "num_layers") + first("decoder_layers")
    width = first("intermediate_size", "n_inner", "d_ff", "hidden_dim", "encoder_ffn_dim") or 4 * hidden
    return first("vocab_size") * hidden + layers * (4 * hidden * hidden + 2 * hidden * width)


def available_mib() -> float:
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) / 1024
    except (OSError, StopIteration):
        return float("inf")


def weights_hash(folder: Path) -> str:
    """The checkpoint's files that decide the model (weights, configs), hashed by content."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHTS and ".cache" not in p.parts):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _snapshot(text: str, revision: Optional[str], config_only: bool = False) -> Path:
    """The hub id's snapshot folder, fetched into huggingface_hub's cache once (or found there);
    with config_only, its config.json alone (checked before the weights are downloaded)."""
    try:
        import huggingface_hub
    except ImportError:
        raise _bad(text, "a hub id needs huggingface_hub (pip install huggingface_hub), or pass a folder") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        if config_only:
            return Path(huggingface_hub.hf_hub_download(text, "config.json", revision=revision,
                                                        local_files_only=offline))
        return Path(huggingface_hub.snapshot_download(text, revision=revision, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 -- not cached, unreachable, unknown: the hub client says which
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        where = "not in the Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else \
            "neither in the Hugging Face cache nor reachable"
        raise _bad(text, f"no such folder, and as a hub id {where}: {type(exc).__name__}: {first}") from None


def resolve(text: str, task: Optional[str] = None, revision: Optional[str] = None, random_weights: bool = False,
            dtype: str = "float32", sequence: Optional[int] = None, image_size: Optional[int] = None,
            dynamic: Optional[List[str]] = None) -> Tuple[Dict[str, Any], List[str]]:
    """(the probe's entry for the model, lines to say); raises UserError."""
    if task is not None and task not in TASKS:
        raise _bad(text, f"--task {task}: expected one of {', '.join(TASKS)}")
    if dtype not in DTYPES:
        raise _bad(text, f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    options = {"dtype": dtype, "sequence": sequence, "image_size": image_size, "dynamic": dynamic,
               "random_weights": random_weights}
    library, _, name = text.partition(":")
    if library in LIBRARIES and name:
        if task not in (None, "image-classification"):
            raise _bad(text, f"--task {task}: {library} models are image classifiers (image-classification)")
        if not random_weights:
            raise _bad(text, f"{library}'s pretrained weights are not fetched by the matrix (cells have no network): "
                             "pass --random-weights, or save the model and give its folder")
        entry = dict(options, case=_case_id(f"{library}-{name}", "image-classification", None), source=text,
                     task="image-classification", origin={"model": text, "weights": "random"})
        return entry, []
    folder = Path(text).expanduser()
    if folder.exists():
        if not (folder / "config.json").is_file():
            raise _bad(text, "not a checkpoint folder: it has no config.json (write one with save_pretrained)")
        origin: Dict[str, Any] = {"model": _shown(folder)}
        source, config_file = "folder", folder / "config.json"
    elif HUB_ID.match(text):
        origin, source, config_file = {"model": text}, "hub", _snapshot(text, revision, config_only=True)
    else:
        raise _bad(text, "no such folder, and not a hub id (org/name), timm:NAME or torchvision:NAME")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _bad(text, f"config.json cannot be read: {exc}") from None
    said = []
    inferred = infer_task(config)
    if task is None:
        if inferred is None:
            raise _bad(text, f"no task given and none follows from its architectures "
                             f"{config.get('architectures')}: pass --task ({', '.join(TASKS)})")
        task = inferred
        said.append(f"{text}: task {task} (from its architecture {config['architectures'][0]}; --task to choose)")
    has = heads(str(config.get("model_type")))
    if has is not None and task not in has:
        raise _bad(text, f"--task {task}: transformers has no such head for a {config.get('model_type')} "
                         f"(it has: {', '.join(has) or 'none of the tasks here'})")
    needed = parameters(config) * {"float32": 4}.get(dtype, 2) * MEMORY_FACTOR / 2**20
    if needed > available_mib():
        raise _bad(text, f"too large for this machine: about {parameters(config) / 1e9:.1f} billion parameters "
                         f"(from its config), {needed / 1024:.0f} GiB to export and check in {dtype}, "
                         f"{available_mib() / 1024:.0f} GiB available")
    if source == "hub":  # the weights only now, once the config says the model can run here
        folder = _snapshot(text, revision)
        origin["revision"] = folder.name
    origin.update(weights="random" if random_weights else weights_hash(folder))
    name = folder.name if source == "folder" else text.replace("/", "--")
    entry = dict(options, case=_case_id(name, task, inferred), source=source, task=task, path=str(folder.resolve()),
                 origin=origin)
    return entry, said


def _shown(folder: Path) -> str:
    """The folder as results name it: relative to here when below it, else its name (results are
    published: no machine's paths in them)."""
    try:
        return str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        return folder.resolve().name


def from_spec(entries: List[Mapping[str, Any]], where: str) -> List[Dict[str, Any]]:
    """The spec's [[models]] tables checked: keys and types (resolved later, by resolve)."""
    checked = []
    for n, entry in enumerate(entries, 1):
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise UserError(f"{where}: [[models]] #{n}: unknown key {unknown[0]!r} (expected {', '.join(KEYS)})")
        if not isinstance(entry.get("model"), str):
            raise UserError(f"{where}: [[models]] #{n}: needs model = \"FOLDER\" (or org/name, timm:NAME, "
                            "torchvision:NAME)")
        for key, kind in KEYS.items():
            if key in entry and not isinstance(entry[key], kind):
                raise UserError(f"{where}: [[models]] #{n}: {key} must be a {kind.__name__}")
        checked.append(dict(entry))
    return checked


def libraries(entries: List[Mapping[str, Any]]) -> List[str]:
    """The model libraries the entries' cells need on their export sides."""
    return sorted({e["source"].partition(":")[0] if ":" in e["source"] else "transformers" for e in entries})


def resolve_all(entries: List[Mapping[str, Any]]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Every model entry ({"model": text, options…}) resolved; the lines to say."""
    resolved, said = [], []
    for entry in entries:
        options = {k: v for k, v in entry.items() if k != "model"}
        one, lines = resolve(entry["model"], **options)
        resolved.append(one)
        said += lines
    return resolved, said
