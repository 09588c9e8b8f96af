"""A person's own model as a case, from a name: a Hugging Face checkpoint folder (written by
`save_pretrained`, or a hub snapshot the orchestrator fetched), `timm:NAME` or `torchvision:NAME`.

The orchestrator (matrix/models.py) resolves each `--model` into an entry — the folder, the task,
the weights' hash — and hands it here as JSON; this module turns the entry into a `Case` made as
the model families make theirs (cases/models_transformers.py): the task's named inputs with value
ranges from the config (vocabulary, image size, mel bins), a padded attention mask, the task's
named outputs, batch and sequence declared dynamic, a decoding step with its KV cache as plain
tensors. The config is read with `json` when the case is collected; transformers, timm and
torchvision are imported inside the build only, so collecting costs nothing.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from matrix.probe.case import Case

# task: (transformers' auto class, the outputs it exports)
TASKS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "feature-extraction": ("AutoModel", ("last_hidden_state",)),
    "text-classification": ("AutoModelForSequenceClassification", ("logits",)),
    "token-classification": ("AutoModelForTokenClassification", ("logits",)),
    "fill-mask": ("AutoModelForMaskedLM", ("logits",)),
    "text-generation": ("AutoModelForCausalLM", ("logits",)),
    "text-generation-with-past": ("AutoModelForCausalLM", ("logits",)),
    "text2text-generation": ("AutoModelForSeq2SeqLM", ("logits",)),
    "image-classification": ("AutoModelForImageClassification", ("logits",)),
    "automatic-speech-recognition": ("AutoModelForSpeechSeq2Seq", ("last_hidden_state",)),  # the encoder
}
# the same sizes as the model families' cases, so a checkpoint and its family case are called alike
EXAMPLE = {"batch": 2, "sequence": 7}
TEXT_SIZES = {"batch": [3], "sequence": [11]}
DTYPES = ("float32", "float16", "bfloat16")


def _config(entry: Mapping[str, Any]) -> Dict[str, Any]:
    with open(os.path.join(entry["path"], "config.json"), encoding="utf-8") as f:
        return json.load(f)


def modality(config: Mapping[str, Any], task: str) -> str:
    """What the model reads: text, image, audio features (log-mel) or raw audio (samples)."""
    if task == "automatic-speech-recognition" or "num_mel_bins" in config or "conv_dim" in config:
        return "features" if "num_mel_bins" in config else "samples"
    if "vocab_size" in config and task != "image-classification":
        return "text"
    return "image"


def _dims(entry: Mapping[str, Any], names: Mapping[str, Mapping[int, str]]) -> Dict[str, Dict[int, str]]:
    """The declared dimensions, less those the entry asks to keep static (`dynamic`: the names kept)."""
    kept = entry.get("dynamic")
    out = {name: {axis: dim for axis, dim in axes.items() if kept is None or dim in kept}
           for name, axes in names.items()}
    return {name: axes for name, axes in out.items() if axes}


def _text_inputs(config: Mapping[str, Any], sizes: Mapping[str, int], names: Tuple[str, ...]) -> Dict[str, Any]:
    """Token ids within the vocabulary, an attention mask whose last row is padded, as the families."""
    import torch

    batch, length = sizes["batch"], sizes["sequence"]
    vocab = int(config.get("vocab_size") or 2)
    inputs = {"input_ids": torch.randint(1, max(2, vocab), (batch, length))}
    if "attention_mask" in names:
        mask = torch.ones(batch, length, dtype=torch.int64)
        mask[-1, length - max(1, length // 3):] = 0
        inputs["attention_mask"] = mask
    if "token_type_ids" in names:
        inputs["token_type_ids"] = torch.zeros(batch, length, dtype=torch.int64)
    if "decoder_input_ids" in names:
        inputs["decoder_input_ids"] = torch.randint(1, max(2, vocab), (batch, sizes.get("decoder_sequence", 5)))
    return inputs


def _hf_case(entry: Mapping[str, Any]) -> Case:
    config = _config(entry)
    task = entry["task"]
    kind = modality(config, task)
    auto, outputs = TASKS[task]
    dtype = entry.get("dtype") or "float32"
    if task == "text-generation-with-past":
        return _decoding_step(entry, config)
    if kind == "text":
        names: Tuple[str, ...] = ("input_ids", "attention_mask")
        if config.get("type_vocab_size"):
            names += ("token_type_ids",)
        declared = {name: {0: "batch", 1: "sequence"} for name in names}
        sizes: Dict[str, List[int]] = dict(TEXT_SIZES)
        if task == "text2text-generation":
            names += ("decoder_input_ids",)
            declared["decoder_input_ids"] = {0: "batch", 1: "decoder_sequence"}
            sizes["decoder_sequence"] = [8]
        example = dict(EXAMPLE, sequence=int(entry.get("sequence") or EXAMPLE["sequence"]))
        inputs = lambda s: _text_inputs(config, s, names)  # noqa: E731
        make = lambda: _text_inputs(config, example, names)  # noqa: E731
    elif kind == "image":
        size = int(entry.get("image_size") or config.get("image_size") or 224)
        channels = int(config.get("num_channels") or 3)
        declared, sizes, inputs = {"pixel_values": {0: "batch"}}, {}, None
        make = lambda: {"pixel_values": _random(dtype, 2, channels, size, size)}  # noqa: E731
    elif kind == "features":  # Whisper-like: a fixed 2 × max_source_positions frames of log-mel features
        frames = 2 * int(config.get("max_source_positions") or 1500)
        declared, sizes, inputs = {"input_features": {0: "batch"}}, {}, None
        make = lambda: {"input_features": _random(dtype, 2, int(config["num_mel_bins"]), frames)}  # noqa: E731
    else:  # raw audio, any length
        declared, sizes, inputs = {"input_values": {0: "batch", 1: "samples"}}, {"samples": [640]}, None
        make = lambda: {"input_values": _random(dtype, 2, 400)}  # noqa: E731
        outputs = ("logits",) if task == "automatic-speech-recognition" else outputs
        auto = "AutoModelForCTC" if task == "automatic-speech-recognition" else auto

    def build():
        model = _load(entry, auto, encoder_only=kind == "features" and task == "automatic-speech-recognition")
        from matrix.probe.cases.models_transformers import Patched

        return Patched(model, outputs), make()

    dims = _dims(entry, declared)
    return _case(entry, build, kind, dynamic=dims, dynamic_sizes={k: v for k, v in sizes.items()
                                                                   if any(k in a.values() for a in dims.values())},
                 inputs=inputs if dims else None, output_names=outputs, requires=("transformers",),
                 library="transformers")


def _random(dtype: str, *shape: int) -> Any:
    import torch

    return torch.randn(*shape).to(getattr(torch, dtype))


def _load(entry: Mapping[str, Any], auto: str, encoder_only: bool = False, **overrides: Any) -> Any:
    """The checkpoint through transformers' auto class, offline, from the folder only; or its
    config with random weights (seeded by the probe) when the entry asks for them."""
    import torch
    import transformers

    dtype = getattr(torch, entry.get("dtype") or "float32")
    cls = getattr(transformers, auto)
    config = transformers.AutoConfig.from_pretrained(entry["path"], local_files_only=True, **overrides)
    if "use_cache" in config.to_dict():
        config.use_cache = bool(overrides.get("use_cache", False))  # as the families: the plain path has no cache
    if entry.get("random_weights"):
        model = cls.from_config(config).to(dtype)
    else:
        model = cls.from_pretrained(entry["path"], config=config, local_files_only=True, dtype=dtype)
    model = model.get_encoder() if encoder_only else model
    return model.eval()


def decoding_step(model: Any, layers: int) -> Any:
    """One decoding step with its KV cache as plain tensors (past_key_<layer>, past_value_<layer>
    in; logits and the grown cache out), rebuilt into the DynamicCache the model takes — as
    Hugging Face's exporter patches a decoder, and as the families' LLaMA case does for two
    layers. The forward's signature names every tensor, so the exporters see named inputs and
    the dynamic shapes bind by name, for any number of layers."""
    import torch

    signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for n in ["self", "input_ids"] + past_names(layers)])

    class DecodeStep(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.model = inner

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            from transformers import DynamicCache

            _, input_ids, *past = signature.bind(self, *args, **kwargs).args
            cache = DynamicCache(config=self.model.config)
            for layer in range(len(past) // 2):
                cache.update(past[2 * layer], past[2 * layer + 1], layer)
            logits, present = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True,
                                         return_dict=False)[:2]
            return (logits, *[t for layer in present.layers for t in (layer.keys, layer.values)])

    DecodeStep.forward.__signature__ = signature  # type: ignore[attr-defined]
    return DecodeStep(model)


def past_names(layers: int) -> List[str]:
    return [f"past_{kind}_{layer}" for layer in range(layers) for kind in ("key", "value")]


def _decoder_shape(config: Mapping[str, Any]) -> Tuple[int, int, int]:
    """(layers, key/value heads, head size) from a decoder's config, under its several spellings."""
    layers = int(config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers"))
    heads = int(config.get("num_attention_heads") or config.get("n_head"))
    hidden = int(config.get("hidden_size") or config.get("n_embd") or config.get("d_model"))
    kv_heads = int(config.get("num_key_value_heads") or heads)
    return layers, kv_heads, int(config.get("head_dim") or hidden // heads)


def _decoding_step(entry: Mapping[str, Any], config: Mapping[str, Any]) -> Case:
    layers, heads, head = _decoder_shape(config)
    dtype = entry.get("dtype") or "float32"
    vocab = int(config.get("vocab_size") or 2)

    def build():
        import torch

        model = _load(entry, "AutoModelForCausalLM", use_cache=True)
        past = {name: _random(dtype, 2, heads, 5, head) for name in names}
        return decoding_step(model, layers), dict(input_ids=torch.randint(1, vocab, (2, 3)), **past)

    names = past_names(layers)
    dims = _dims(entry, {"input_ids": {0: "batch", 1: "sequence"},
                         **{n: {0: "batch", 2: "past_sequence"} for n in names}})
    return _case(entry, build, "text", dynamic=dims or None,
                 output_names=("logits", *[n.replace("past_", "present_") for n in names]),
                 requires=("transformers",), library="transformers")


def _vision_case(entry: Mapping[str, Any]) -> Case:
    library, _, name = entry["source"].partition(":")
    size = int(entry.get("image_size") or 224)
    dtype = entry.get("dtype") or "float32"

    def build():
        if library == "timm":
            import timm

            model = timm.create_model(name, pretrained=False)
        else:
            import torchvision

            model = torchvision.models.get_model(name, weights=None)
        import torch

        from matrix.probe.cases.models_vision import _with_running_stats  # random weights: real BatchNorm statistics

        return _with_running_stats(model).eval().to(getattr(torch, dtype)), (_random(dtype, 2, 3, size, size),)

    dims = _dims(entry, {"image": {0: "batch"}})
    return _case(entry, build, "image", dynamic=[dims["image"]] if dims else None, requires=(library,),
                 library=library)


def _case(entry: Mapping[str, Any], build: Any, kind: str, **fields: Any) -> Case:
    build.__doc__ = f"{entry['source']}: {entry['task']}"
    return Case(entry["case"], build, description=f"your model {entry['origin']['model']} ({entry['task']}, {kind} "
                f"in, {entry.get('dtype') or 'float32'})", source=dict(entry["origin"], task=entry["task"]), **fields)


def cases(entries: List[Mapping[str, Any]]) -> List[Case]:
    """Each entry (as matrix/models.py writes it) as a case."""
    return [_vision_case(e) if e["source"].startswith(("timm:", "torchvision:")) else _hf_case(e) for e in entries]


def loading(source: Optional[Mapping[str, Any]]) -> str:
    """How a person loads the model the export call below it names `model` (the report's snippet)."""
    if not source:
        return ""
    name = str(source.get("model", ""))
    library, _, short = name.partition(":")
    if library in ("timm", "torchvision") and short:
        made = f'timm.create_model("{short}")' if library == "timm" else f'torchvision.models.get_model("{short}")'
        return f"import {library}\nmodel = {made}.eval()\n"
    auto, outputs = TASKS.get(str(source.get("task")), ("AutoModel", ()))
    revision = f', revision="{source["revision"]}"' if source.get("revision") else ""
    return (f"import transformers\nmodel = transformers.{auto}.from_pretrained(\"{name}\"{revision}).eval()\n"
            f"# called with the task's inputs by name, its outputs {', '.join(outputs)} as a tuple "
            "(see matrix/probe/own_models.py)\n")


def describe(entry: Optional[Mapping[str, Any]]) -> str:
    """One line: where the model comes from (the report's and the results' wording)."""
    if not entry:
        return ""
    origin = entry.get("model", "")
    revision = f"@{entry['revision'][:12]}" if entry.get("revision") else ""
    return f"{origin}{revision} ({entry.get('task')})"
