"""Images → packed hash codes with a :class:`~semvis.hashing.model.SemanticHashNet`.

Preprocessing follows the paper: the centred square crop of each image, resized to
224×224. The codes carry a model *fingerprint* so an index never mixes models: the
sha256 of the weight file (``sha256:<hex>``), or for an in-memory model the sha256 of
its config and state (``state-sha256:<hex>``). :func:`encoder_for` gives the encoder of an index's
model, checked against that fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from semvis.data import image_to_tensor, load_image
from semvis.device import DeviceSpec, place
from semvis.errors import ImageError, SemvisError
from semvis.hashing.codes import HashCodes, binarize, pack_codes
from semvis.hashing.index import HashIndex
from semvis.hashing.model import SemanticHashNet, load_hashnet
from semvis.progress import ProgressCallback, report
from semvis.weights import file_digests

#: Input side used by the paper.
INPUT_SIZE = 224


def square_crop(image: Image.Image, size: int) -> Image.Image:
    """The centred square of side ``min(w, h)``, resized (bicubic) to ``size × size``."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)


def state_fingerprint(model: SemanticHashNet) -> str:
    """sha256 over the config and every state tensor (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256(json.dumps(model.config, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"state-sha256:{digest.hexdigest()}"


class EncodedBatch(NamedTuple):
    """Codes of the readable files of a batch, and the unreadable ones with their error messages."""

    paths: list[Path]
    codes: HashCodes
    failed: list[tuple[Path, str]]


class ImageFiles(Dataset):
    """Image files as the encoder's input (centred square, ``size`` px); an unreadable one gives its error."""

    def __init__(self, files: Sequence[Path], size: int) -> None:
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return i, image_to_tensor(square_crop(load_image(self.files[i]), self.size)), ""
        except (SemvisError, OSError) as exc:
            return i, None, str(exc) if isinstance(exc, SemvisError) else f"{self.files[i]}: {exc}"


def collate_images(
    items: list[tuple[int, torch.Tensor | None, str]],
) -> tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]:
    """A batch of :class:`ImageFiles` items: readable positions, their stacked images, the failures."""
    good = [(i, x) for i, x, _ in items if x is not None]
    stacked = torch.stack([x for _, x in good]) if good else None
    return [i for i, _ in good], stacked, [(i, error) for i, x, error in items if x is None]


class ImageEncoder:
    """Encodes image files in batches into :class:`HashCodes`.

    Args:
        model: a :class:`SemanticHashNet`, or the path of a file saved by
            :func:`~semvis.hashing.model.save_hashnet`.
        bits: expected code length; a model of another length is refused.
        input_size: side of the network input (224 in the paper; tests use less).
        batch_size: images per forward pass.
        progress: gets the count of images encoded (task "encoding").
        device: where the network runs (see :mod:`semvis.device`; ``None``: where ``model`` is,
            the CPU for a file); codes come back on the CPU.
    """

    def __init__(
        self,
        model: SemanticHashNet | str | Path,
        bits: int | None = None,
        input_size: int = INPUT_SIZE,
        batch_size: int = 16,
        progress: ProgressCallback | None = None,
        device: DeviceSpec | None = None,
    ) -> None:
        if isinstance(model, SemanticHashNet):
            self.model, self.fingerprint = model, state_fingerprint(model)
        else:
            self.model = load_hashnet(model)
            self.fingerprint = f"sha256:{file_digests(Path(model))['sha256']}"
        if bits is not None and bits != self.model.bits:
            raise SemvisError(f"the model makes {self.model.bits}-bit codes, not {bits}")
        self.device = place(self.model.eval(), device)
        self.input_size, self.batch_size, self.progress = input_size, batch_size, progress

    @property
    def bits(self) -> int:
        return self.model.bits

    def encode_tensor(self, x: torch.Tensor) -> HashCodes:
        """Codes of an ``N×3×H×W`` batch of RGB images in [0, 1]."""
        with torch.inference_mode():
            r = self.model(x.to(self.device)).hash_probs.float().cpu().numpy()
        return HashCodes(pack_codes(binarize(r)), self.bits, self.fingerprint)

    def encode_images(self, images: Sequence[Image.Image]) -> HashCodes:
        """Codes of RGB Pillow images: each centre square, resized to the input size (as for files)."""
        return self.encode_tensor(torch.stack([image_to_tensor(square_crop(im, self.input_size)) for im in images]))

    def iter_encode(self, paths: Sequence[str | Path], workers: int = 0) -> Iterator[EncodedBatch]:
        """Yield the codes of ``paths`` a batch at a time, in order, reporting progress over all of them.

        ``workers`` processes decode and crop the images (a :class:`~torch.utils.data.DataLoader`;
        0: this process). An unreadable file does not stop the run: it is in its batch's ``failed``.
        """
        files = [Path(p) for p in paths]
        loader = DataLoader(
            ImageFiles(files, self.input_size),
            batch_size=self.batch_size,
            num_workers=workers,
            collate_fn=collate_images,
        )
        done = 0
        for good, x, failed in loader:
            codes = self.encode_tensor(x) if good else self._no_codes()
            done += len(good) + len(failed)
            report(self.progress, "encoding", done, len(files))
            yield EncodedBatch([files[i] for i in good], codes, [(files[i], error) for i, error in failed])

    def encode(self, paths: Sequence[str | Path]) -> HashCodes:
        """Codes of image files, in order; an unreadable file raises its :class:`ImageError`."""
        batches = list(self.iter_encode(paths))
        if failed := [error for batch in batches for _, error in batch.failed]:
            raise ImageError(failed[0])
        return HashCodes.concat([self._no_codes(), *(batch.codes for batch in batches)])

    def _no_codes(self) -> HashCodes:
        return HashCodes(np.zeros((0, self.bits // 8), np.uint8), self.bits, self.fingerprint)


def encoder_for(
    index: HashIndex,
    weights: str | Path | None = None,
    progress: ProgressCallback | None = None,
    device: DeviceSpec | None = None,
) -> ImageEncoder:
    """The encoder that made ``index``'s codes, at its input size; refuses weights of another model.

    ``weights`` defaults to the file the index records (``semvis index build`` keeps its path);
    ``progress`` and ``device`` go to :class:`ImageEncoder`.
    """
    attrs = index.attrs
    if weights is None and "weights" not in attrs:
        raise SemvisError(f"{index.root}: the index does not record its weights file; name the weights")
    weights = Path(attrs["weights"] if weights is None else weights)
    input_size = int(attrs.get("input_size", INPUT_SIZE))
    encoder = ImageEncoder(weights, bits=index.bits, input_size=input_size, progress=progress, device=device)
    if encoder.fingerprint != index.fingerprint:
        raise SemvisError(
            f"{weights}: model {encoder.fingerprint} is not the one {index.root} was built with ({index.fingerprint})"
        )
    return encoder
