"""The seed's modified U-Net (Fig. 3–4): gray X and semantic S through one shared encoder.

Per level k = 1…5 the encoder gives gray features g_k and semantic features s_k with the same
weights. The skip at level k is ``cat(IN(g_k), s_k)`` (2·d_k channels: gray first), Instance
Normalization touching the gray stream only (switch it off for the Fig. 5 ablation). The decoder
starts from the level-5 skip and goes back up, concatenating the level-k skip inside each layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from semvis.colorize.bins import TEMPERATURE, annealed_mean, gamut_bins
from semvis.weights import ModelHeader, load_model, register_legacy_header, register_model, save_model

LEVELS = 5
#: Input sides are padded to a multiple of this (four stride-2 layers).
STRIDE = 2 ** (LEVELS - 1)
NEGATIVE_SLOPE = 0.01
SemanticMode = Literal["scalar", "embedding"]
HeadMode = Literal["regression", "classification"]


class ConvLayer(nn.Module):
    """One layer of Fig. 3: two 3×3 convs, each followed by LeakyReLU(0.01).

    ``resample="down"`` makes the first conv stride 2, ``"up"`` a stride-2 transposed conv
    (exactly doubling the size); ``skip`` channels are concatenated between the two convs.
    """

    def __init__(self, in_ch: int, out_ch: int, resample: Literal["down", "up"] | None = None, skip: int = 0) -> None:
        super().__init__()
        if resample == "up":
            self.conv1: nn.Module = nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1)
        else:
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=2 if resample == "down" else 1, padding=1)
        self.conv2 = nn.Conv2d(out_ch + skip, out_ch, 3, padding=1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.act(self.conv1(x))
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.act(self.conv2(x))


class SemanticInput(nn.Module):
    """Label map (B×H×W int) → the one-channel S that the shared encoder reads like X.

    ``"scalar"``: class c ↦ 2c/(C−1) − 1 ∈ [−1, 1]; void (any label outside 0…C−1, e.g. CamVid's
    11 or a 255 padding) ↦ −1 − 2/(C−1), one class step below class 0, so it stays distinct.
    ``"embedding"``: one learned value per class plus one for void, initialised to those scalars.
    (A wider learned embedding followed by a linear projection to one channel is the same
    function, a scalar per class, so the scalar is learned directly.)
    """

    def __init__(self, num_classes: int, mode: SemanticMode = "scalar") -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if mode not in ("scalar", "embedding"):
            raise ValueError(f"semantic must be 'scalar' or 'embedding', not {mode!r}")
        self.num_classes = num_classes
        step = 2.0 / (num_classes - 1)
        values = torch.cat([torch.linspace(-1.0, 1.0, num_classes), torch.tensor([-1.0 - step])])
        if mode == "embedding":
            self.values = nn.Parameter(values)
        else:
            self.register_buffer("values", values, persistent=False)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.long()
        index = torch.where((labels >= 0) & (labels < self.num_classes), labels, self.num_classes)
        return self.values[index].unsqueeze(1)


def pad_to_stride(x: torch.Tensor) -> torch.Tensor:
    """Pad bottom/right to a multiple of :data:`STRIDE`: reflect, or replicate along a side too short for it."""
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    if pw:
        x = F.pad(x, (0, pw, 0, 0), mode="reflect" if pw < w else "replicate")
    if ph:
        x = F.pad(x, (0, 0, 0, ph), mode="reflect" if ph < h else "replicate")
    return x


class SemanticColorizer(nn.Module):
    """Ŷ = f(X, S): scaled luma (B×1×H×W) and labels (B×H×W) → scaled ab (B×2×H×W) in [−1, 1].

    Encoder depths ``width·[1, 2, 4, 8, 16]`` (the seed: width 32 → 32…512), layer 1 at full
    resolution, layers 2–5 halving it. Decoder depths are twice the encoder's at the same level
    (1024, 512, 256, 128, 64) because the skip holds both streams: layer 1 works at H/16 on the
    level-5 skip, layers 2–5 double the resolution and concatenate the level 4…1 skip. A 1×1
    conv + tanh gives the two chroma channels. Any H×W works (reflect padding to a multiple of 16).

    Two departures, both off by default (the seed's network):

    * ``head="classification"`` (Zhang et al. 2016): the 1×1 chroma conv gives Q logits over the
      quantised ab bins of :mod:`~semvis.colorize.bins` instead of two tanh values; :meth:`logits`
      returns them (for the rebalanced cross-entropy) and ``forward`` decodes them by the annealed
      mean at ``temperature`` (the paper's T = 0.38 by default), so the model is used like the
      seed's everywhere else.
    * ``class_prior=True``: a learned per-class bias on the head's output (Q logits, or the two
      chroma values before tanh), looked up at every pixel from the label map (void has its own).
      The seed's one-channel S reaches the head only through the shared encoder and, trained on
      predicted maps, was found to be ignored (repainting a region changed it by 1–4/255); the
      bias makes the repainted class move the colour of exactly the repainted pixels.
    """

    #: Model-file kind (:func:`semvis.weights.save_model`).
    kind = "colorizer"

    def __init__(
        self,
        num_classes: int = 11,
        width: int = 32,
        instance_norm: bool = True,
        semantic: SemanticMode = "scalar",
        head: HeadMode = "regression",
        class_prior: bool = False,
        temperature: float = TEMPERATURE,
    ) -> None:
        super().__init__()
        if head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', not {head!r}")
        self.config = {
            "num_classes": num_classes,
            "width": width,
            "instance_norm": instance_norm,
            "semantic": semantic,
            "head": head,
            "class_prior": class_prior,
            "temperature": temperature,
        }
        enc = [width * 2**k for k in range(LEVELS)]
        dec = [2 * d for d in reversed(enc)]
        self.semantic = SemanticInput(num_classes, semantic)
        self.encoder = nn.ModuleList(
            ConvLayer(c_in, c_out, None if k == 0 else "down") for k, (c_in, c_out) in enumerate(zip([1, *enc], enc))
        )
        self.norms = nn.ModuleList(nn.InstanceNorm2d(d) if instance_norm else nn.Identity() for d in enc)
        self.decoder = nn.ModuleList(
            [ConvLayer(dec[0], dec[0])] + [ConvLayer(dec[k - 1], dec[k], "up", skip=dec[k]) for k in range(1, LEVELS)]
        )
        outputs = gamut_bins().shape[0] if head == "classification" else 2
        self.to_ab = nn.Conv2d(dec[-1], outputs, 1)
        self.prior = nn.Embedding(num_classes + 1, outputs) if class_prior else None
        if self.prior is not None:
            nn.init.zeros_(self.prior.weight)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The shared encoder's features at levels 1…5 (full resolution … 1/16)."""
        features = []
        for layer in self.encoder:
            x = layer(x)
            features.append(x)
        return features

    def logits(self, luma: torch.Tensor, labels: torch.Tensor, every: int = 1) -> torch.Tensor:
        """The head's raw output B×K×H×W: K = Q bin logits (classification) or 2 pre-tanh chroma values.

        ``every`` > 1 evaluates the (pointwise) head only at pixels ``[::every, ::every]``: the
        classification loss is taken on that subsample to save the Q-wide head's cost in training.
        """
        if luma.dim() != 4 or luma.shape[1] != 1 or labels.shape != (luma.shape[0], *luma.shape[2:]):
            raise ValueError(
                f"expected luma B×1×H×W and labels B×H×W, got {tuple(luma.shape)} and {tuple(labels.shape)}"
            )
        h, w = luma.shape[-2:]
        gray = self.encode(pad_to_stride(luma))
        sem = self.encode(pad_to_stride(self.semantic(labels)))
        skips = [torch.cat([norm(g), s], dim=1) for norm, g, s in zip(self.norms, gray, sem)]
        y = self.decoder[0](skips[-1])
        for layer, skip in zip(self.decoder[1:], reversed(skips[:-1])):
            y = layer(y, skip)
        out = self.to_ab(y[..., :h:every, :w:every])
        if self.prior is not None:
            void = self.config["num_classes"]
            labels = labels[..., ::every, ::every]
            index = torch.where((labels >= 0) & (labels < void), labels.long(), void)
            out = out + self.prior(index).permute(0, 3, 1, 2)
        return out

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scaled ab B×2×H×W in [−1, 1]: tanh of the head, or the annealed mean of its bin logits."""
        out = self.logits(luma, labels)
        if self.config["head"] == "classification":
            return annealed_mean(out, self.config["temperature"])
        return torch.tanh(out)


def save_colorizer(
    model: SemanticColorizer, path: str | Path, half: bool = True, provenance: dict[str, Any] | None = None
) -> Path:
    """Weights (fp16 by default) and config as a model file of kind ``colorizer``."""
    return save_model(model, path, SemanticColorizer.kind, model.config, provenance=provenance, half=half)


def load_colorizer(path: str | Path, device: str | None = None) -> SemanticColorizer:
    """Rebuild a :class:`SemanticColorizer` (in eval mode, float32, on ``device``) from its model file."""
    return load_model(path, (SemanticColorizer.kind,), device).model


register_model(SemanticColorizer.kind, SemanticColorizer)
register_legacy_header(
    "semvis.colorizer", lambda meta: ModelHeader(SemanticColorizer.kind, json.loads(meta["semvis.colorizer"]))
)
