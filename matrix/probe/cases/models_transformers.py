"""Hugging Face transformers architectures, built offline from configuration objects.

Tiny dimensions (2 layers, hidden 32) and seeded random weights: no download, no hub. Each model
is called as Hugging Face's ONNX exporter calls it (optimum's model patcher): the task's named
inputs only (token ids with an attention mask that pads the last row), `use_cache=False` on the
plain path, the task's named outputs as a tuple, batch and sequence declared dynamic. Called the
naive way instead (`torch.onnx.export(model, (), kwargs=inputs)`), the TorchScript exporter binds
the inputs to forward's whole signature and fails on BERT with "got multiple values for argument
'use_cache'": the matrix would measure its own mistake. transformers is imported inside each
build, so a cell without it collects these cases and skips them (`requires`).
"""

import torch
from torch import nn

from matrix import Case

VOCAB = 99
TEXT = {"batch": [3], "sequence": [11]}  # sizes the dynamic stage tries besides the example's (2, 7)
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


class Patched(nn.Module):
    """The model as Hugging Face's ONNX exporter patches it: the task's inputs by name (those not
    given stay None and are not passed on), a ModelOutput turned into the tuple of the task's
    outputs."""

    def __init__(self, model, outputs):
        super().__init__()
        self.model, self.outputs = model, tuple(outputs)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, decoder_input_ids=None,
                pixel_values=None, input_features=None, input_values=None):
        given = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                     decoder_input_ids=decoder_input_ids, pixel_values=pixel_values, input_features=input_features,
                     input_values=input_values)
        out = self.model(**{name: value for name, value in given.items() if value is not None}, return_dict=True)
        return tuple(out[name] for name in self.outputs)


def model_case(case_id, build, outputs, **fields):
    """A transformers case: `build` returns (model, inputs), called through Patched."""
    def patched():
        model, inputs = build()
        return Patched(model, outputs), inputs

    patched.__doc__ = build.__doc__
    return Case(case_id, patched, output_names=tuple(outputs), requires=("transformers",), library="transformers",
                **fields)


def _text(sizes, with_types=False):
    """Token ids and an attention mask whose last row is padded (its last third masked out)."""
    batch, length = sizes["batch"], sizes["sequence"]
    ids = torch.randint(1, VOCAB, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[-1, length - max(1, length // 3):] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        inputs["token_type_ids"] = torch.zeros(batch, length, dtype=torch.int64)
    return inputs


def _text_dims(*names):
    return {name: {0: "batch", 1: "sequence"} for name in names}


EXAMPLE = {"batch": 2, "sequence": 7}


def _from_config(config_name, model_name, with_types=False, **config):
    def build():
        import transformers

        cfg = getattr(transformers, config_name)(vocab_size=VOCAB, **config)
        return getattr(transformers, model_name)(cfg), _text(EXAMPLE, with_types)

    return build


def _inputs_of(with_types=False):
    return lambda sizes: _text(sizes, with_types)


bert = model_case(
    "models/bert", _from_config("BertConfig", "BertModel", with_types=True, **TINY),
    ("last_hidden_state", "pooler_output"),
    description="BERT encoder (feature extraction): token ids, attention mask, token types",
    dynamic=_text_dims("input_ids", "attention_mask", "token_type_ids"), dynamic_sizes=TEXT,
    inputs=_inputs_of(with_types=True))

distilbert = model_case(
    "models/distilbert", _from_config("DistilBertConfig", "DistilBertModel", dim=32, n_layers=2, n_heads=4,
                                  hidden_dim=37, max_position_embeddings=64), ("last_hidden_state",),
    description="DistilBERT encoder (feature extraction)",
    dynamic=_text_dims("input_ids", "attention_mask"), dynamic_sizes=TEXT, inputs=_inputs_of())

roberta = model_case(
    "models/roberta", _from_config("RobertaConfig", "RobertaModel", pad_token_id=0, **TINY),
    ("last_hidden_state", "pooler_output"), description="RoBERTa encoder (feature extraction)",
    dynamic=_text_dims("input_ids", "attention_mask"), dynamic_sizes=TEXT, inputs=_inputs_of())

DECODER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=64, max_position_embeddings=64, use_cache=False)


def _decoder(case_id, config_name, model_name, description, **config):
    return model_case(case_id, _from_config(config_name, model_name, **config), ("logits",), description=description,
                      dynamic=_text_dims("input_ids", "attention_mask"), dynamic_sizes=TEXT, inputs=_inputs_of())


gpt2 = _decoder("models/gpt2", "GPT2Config", "GPT2LMHeadModel", "GPT-2 language model (text generation, no cache)",
                n_embd=32, n_layer=2, n_head=4, n_positions=64, use_cache=False)
llama = _decoder("models/llama", "LlamaConfig", "LlamaForCausalLM",
                 "LLaMA language model (text generation, no cache): RoPE, RMSNorm, grouped-query attention",
                 **DECODER)
mistral = _decoder("models/mistral", "MistralConfig", "MistralForCausalLM",
                   "Mistral language model (text generation, no cache): sliding-window attention", sliding_window=4,
                   **DECODER)
qwen2 = _decoder("models/qwen2", "Qwen2Config", "Qwen2ForCausalLM", "Qwen2 language model (text generation, no cache)",
                 **DECODER)
phi3 = _decoder("models/phi3", "Phi3Config", "Phi3ForCausalLM", "Phi-3 language model (text generation, no cache)",
                pad_token_id=0, **DECODER)


class DecodeStep(nn.Module):
    """One decoding step with a KV cache, as Hugging Face's exporter patches a decoder: the cache
    goes in and out as plain tensors (past_key_values.<layer>.key/value), rebuilt into the
    DynamicCache the model takes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, past_key_0, past_value_0, past_key_1, past_value_1):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        cache.update(past_key_0, past_value_0, 0)
        cache.update(past_key_1, past_value_1, 1)
        logits, present = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True,
                                      return_dict=False)[:2]
        return (logits, *[t for layer in present.layers for t in (layer.keys, layer.values)])


def _llama_with_cache():
    import transformers

    config = transformers.LlamaConfig(vocab_size=VOCAB, **dict(DECODER, use_cache=True))
    heads, dim = config.num_key_value_heads, config.hidden_size // config.num_attention_heads
    past = {f"past_{kind}_{layer}": torch.randn(2, heads, 5, dim) for layer in range(2) for kind in ("key", "value")}
    return DecodeStep(transformers.LlamaForCausalLM(config)), dict(input_ids=torch.randint(1, VOCAB, (2, 3)), **past)


_PAST = {f"past_{kind}_{layer}": {0: "batch", 2: "past_sequence"} for layer in range(2) for kind in ("key", "value")}
llama_kv_cache = Case(
    "models/llama_kv_cache", _llama_with_cache,
    description="LLaMA decoding with a KV cache: new tokens and the past keys/values in, logits and the grown "
                "cache out (no attention mask: a batch without padding)",
    dynamic={"input_ids": {0: "batch", 1: "sequence"}, **_PAST},
    output_names=("logits", *[f"present_{kind}_{layer}" for layer in range(2) for kind in ("key", "value")]),
    requires=("transformers",), library="transformers")


def _t5():
    import transformers

    config = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                   decoder_start_token_id=0, use_cache=False)
    inputs = _text(EXAMPLE)
    inputs["decoder_input_ids"] = torch.randint(1, VOCAB, (2, 5))
    return transformers.T5ForConditionalGeneration(config), inputs


def _t5_inputs(sizes):
    inputs = _text(sizes)
    inputs["decoder_input_ids"] = torch.randint(1, VOCAB, (sizes["batch"], sizes["decoder_sequence"]))
    return inputs


t5 = model_case(
    "models/t5", _t5, ("logits",), description="T5 encoder-decoder (text-to-text, no cache): relative position buckets",
    dynamic=dict(_text_dims("input_ids", "attention_mask"), decoder_input_ids={0: "batch", 1: "decoder_sequence"}),
    dynamic_sizes=dict(TEXT, decoder_sequence=[8]), inputs=_t5_inputs)


def _bart():
    import transformers

    config = transformers.BartConfig(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2,
                                     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                     decoder_ffn_dim=37, max_position_embeddings=64, use_cache=False)
    return transformers.BartModel(config), _text(EXAMPLE)


bart = model_case(
    "models/bart", _bart, ("last_hidden_state", "encoder_last_hidden_state"),
    description="BART encoder-decoder (feature extraction): decoder inputs shifted from the ids",
    dynamic=_text_dims("input_ids", "attention_mask"), dynamic_sizes=TEXT, inputs=_inputs_of())


def _clip_text():
    import transformers

    config = transformers.CLIPTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                         num_attention_heads=4, max_position_embeddings=64)
    return transformers.CLIPTextModel(config), _text(EXAMPLE)


clip_text = model_case(
    "models/clip_text", _clip_text, ("last_hidden_state", "pooler_output"),
    description="CLIP text tower (the text encoder of CLIP and of diffusion pipelines)",
    dynamic=_text_dims("input_ids", "attention_mask"), dynamic_sizes=TEXT, inputs=_inputs_of())


def _image(config_name, model_name, size, **config):
    def build():
        import transformers

        cfg = getattr(transformers, config_name)(**config)
        return getattr(transformers, model_name)(cfg), {"pixel_values": torch.randn(2, 3, size, size)}

    return build


vit = model_case(
    "models/vit", _image("ViTConfig", "ViTModel", 32, image_size=32, patch_size=8, **TINY),
    ("last_hidden_state", "pooler_output"),
    description="ViT image encoder (feature extraction); a fixed image size, as its position embeddings are",
    dynamic={"pixel_values": {0: "batch"}})

convnext = model_case(
    "models/convnext", _image("ConvNextConfig", "ConvNextModel", 64, hidden_sizes=[8, 16, 32, 64],
                              depths=[1, 1, 2, 1]), ("last_hidden_state", "pooler_output"),
    description="ConvNeXt image backbone (feature extraction): any image size",
    dynamic={"pixel_values": {0: "batch", 2: "height", 3: "width"}}, dynamic_sizes={"height": [96], "width": [96]})

swin = model_case(
    "models/swin", _image("SwinConfig", "SwinModel", 64, image_size=64, patch_size=4, embed_dim=16, depths=[1, 1],
                          num_heads=[2, 4], window_size=4), ("last_hidden_state", "pooler_output"),
    description="Swin Transformer image encoder (feature extraction): shifted windows, patch merging",
    dynamic={"pixel_values": {0: "batch"}})


def _whisper_encoder():
    import transformers

    config = transformers.WhisperConfig(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2,
                                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                        decoder_ffn_dim=37, num_mel_bins=16, max_source_positions=30,
                                        max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                        decoder_start_token_id=1)
    # Whisper's encoder takes exactly 2 × max_source_positions frames of log-mel features
    return transformers.WhisperModel(config).get_encoder(), {"input_features": torch.randn(2, 16, 60)}


whisper_encoder = model_case(
    "models/whisper_encoder", _whisper_encoder, ("last_hidden_state",),
    description="Whisper speech encoder: log-mel features of a fixed 2 × max_source_positions frames",
    dynamic={"input_features": {0: "batch"}})


def _wav2vec2():
    import transformers

    config = transformers.Wav2Vec2Config(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=37, conv_dim=(16, 16), conv_stride=(5, 2),
                                         conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2)
    return transformers.Wav2Vec2Model(config), {"input_values": torch.randn(2, 400)}


wav2vec2 = model_case(
    "models/wav2vec2", _wav2vec2, ("last_hidden_state", "extract_features"),
    description="Wav2Vec2 speech encoder on raw audio: conv feature extractor, any length",
    dynamic={"input_values": {0: "batch", 1: "samples"}}, dynamic_sizes={"samples": [640]})
