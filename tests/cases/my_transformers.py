"""A user's own transformers model, as docs/families.md shows it: a BERT sentiment
classifier built from its configuration (no download), exported as Hugging Face's exporter calls
it: named inputs, the logits as a named output, batch and sequence dynamic."""

import torch
from torch import nn

from matrix import Case


class Classifier(nn.Module):
    """The model with the inputs it is exported with, by name, and its logits out (the way
    Hugging Face's exporter patches a model: without it, torch's TorchScript exporter binds the
    inputs to forward's whole signature and fails on "multiple values for argument 'use_cache'")."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).logits


def build():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, num_labels=3)
    ids = torch.randint(1, 1000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0  # the second sentence is padded
    return Classifier(BertForSequenceClassification(config)), {"input_ids": ids, "attention_mask": mask}


sentiment = Case("mine/sentiment", build, description="our BERT sentiment classifier (3 labels)",
                 dynamic={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
                 output_names=("logits",), requires=("transformers",), library="transformers")
