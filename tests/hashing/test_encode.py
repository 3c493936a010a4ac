"""ImageEncoder.iter_encode: decoding in DataLoader workers, unreadable files reported, not fatal."""

from pathlib import Path

import numpy as np
import pytest
from helpers import blocky_images, random_net

from semvis.errors import ImageError
from semvis.hashing import ImageEncoder


def test_workers_give_the_same_codes_in_order_and_report_unreadable_files(tmp_path: Path) -> None:
    files = blocky_images(tmp_path / "photos", 7)
    bad = tmp_path / "photos" / "bad.png"
    bad.write_bytes(b"text, not an image")
    paths = [*files[:3], bad, *files[3:]]
    progress: list[int] = []
    encoder = ImageEncoder(
        random_net(tmp_path), input_size=32, batch_size=3, progress=lambda u: progress.append(u.done)
    )
    serial = list(encoder.iter_encode(paths))
    parallel = list(encoder.iter_encode(paths, workers=2))
    for batches in serial, parallel:
        assert [p for b in batches for p in b.paths] == files
        assert [f for b in batches for f, _ in b.failed] == [bad]
        assert "bad.png: not an image" in batches[1].failed[0][1]
    codes = [np.concatenate([b.codes.packed for b in batches]) for batches in (serial, parallel)]
    assert np.array_equal(*codes) and len(np.unique(codes[0], axis=0)) > 1
    assert progress[-1] == len(paths) and progress[:3] == [3, 6, 8]
    with pytest.raises(ImageError, match="bad.png: not an image"):
        encoder.encode(paths)
