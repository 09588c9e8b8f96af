"""torchvision and timm architectures, built offline: `weights=None` / `pretrained=False`, seeded
random weights, small images. Called as their users export them: images in, positionally, batch
(and image size where the architecture allows) declared dynamic. The libraries are imported inside
each build, so a cell without them collects these cases and skips them (`requires`).
"""

import torch

from matrix import Case

IMAGE = (2, 3, 64, 64)
ANY_SIZE = ({0: "batch", 2: "height", 3: "width"},)
SIZES = {"height": [96], "width": [80]}
# Batch only, though the architecture takes any image size: a dynamic height and width doubles the
# dynamo export's time (mobilenet_v3_small: 6.7 s → 12.9 s on torch 2.13), and the default run must stay
# within its budget; resnet18, deeplabv3 and transformers' convnext keep the image size dynamic.
BATCH = ({0: "batch"},)


def _with_running_stats(model):
    # Fresh BatchNorm has mean 0 / var 1, which hides a mis-exported normalisation: give it real statistics.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def _torchvision(name, **options):
    def build():
        import importlib

        module, _, function = f"torchvision.models.{name}".rpartition(".")
        model = getattr(importlib.import_module(module), function)(weights=None, **options)
        return _with_running_stats(model), (torch.randn(*IMAGE),)

    return build


def _vision(case_id, build, description, library, dynamic=ANY_SIZE, **fields):
    return Case(case_id, build, description=description, dynamic=dynamic, dynamic_sizes=SIZES if dynamic == ANY_SIZE
                else {}, requires=(library,), library=library, **fields)


resnet18 = _vision("models/resnet18", _torchvision("resnet18", num_classes=10),
                   "torchvision ResNet-18 classifier: the classic CNN backbone", "torchvision")
mobilenet_v3 = _vision("models/mobilenet_v3_small", _torchvision("mobilenet_v3_small", num_classes=10),
                       "torchvision MobileNetV3-Small: hard-swish, squeeze-and-excitation", "torchvision",
                       dynamic=BATCH)
efficientnet_b0 = _vision("models/efficientnet_b0", _torchvision("efficientnet_b0", num_classes=10),
                          "torchvision EfficientNet-B0: depthwise convolutions, SiLU, stochastic depth off in eval",
                          "torchvision", dynamic=BATCH)
deeplabv3 = _vision("models/deeplabv3", _torchvision("segmentation.deeplabv3_mobilenet_v3_large", weights_backbone=None,
                                                     num_classes=4, aux_loss=False),
                    "torchvision DeepLabV3 (MobileNetV3 backbone) segmentation: atrous convolutions, upsampling "
                    "back to the input size", "torchvision", output_names=("out",))


def _timm(name, size=64, **options):
    def build():
        import timm

        model = timm.create_model(name, pretrained=False, num_classes=10, **options)
        return _with_running_stats(model), (torch.randn(2, 3, size, size),)

    return build


timm_convnext = _vision("models/timm_convnext_atto", _timm("convnext_atto"),
                        "timm ConvNeXt-Atto backbone: LayerNorm over channels, GELU", "timm", dynamic=BATCH)
timm_vit = _vision("models/timm_vit_tiny", _timm("vit_tiny_patch16_224", size=64, img_size=64, depth=2),
                   "timm ViT-Tiny (2 blocks at 64×64): the most used ViT implementation outside transformers",
                   "timm", dynamic=({0: "batch"},))
