"""The shipped colorizer: colour, not gray, and a repaint that visibly recolours exactly the repainted region."""

import pytest
import torch

from semvis.assets import sample_path
from semvis.bundled import COLORIZER, MODELS_DIR
from semvis.colorize import colorize, colourfulness, load_colorizer
from semvis.colorize.infer import edit_change
from semvis.data import image_to_tensor, load_image

#: CamVid classes used by the edit below.
SKY, ROAD, TREE = 0, 3, 5
#: Least mean chroma change inside a repainted region (ΔE_ab over a and b, Lab units) that counts as visible.
VISIBLE = 10.0


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    path = MODELS_DIR / COLORIZER
    if not path.is_file():
        pytest.skip(f"{path} is not in this installation")
    return load_colorizer(path)


@pytest.fixture(scope="module")
def photo() -> tuple[torch.Tensor, torch.Tensor]:
    """The gray cameraman photo at 128×128 with a map: sky above, road below."""
    gray = image_to_tensor(load_image(sample_path("cameraman")).resize((128, 128)))
    labels = torch.full((128, 128), ROAD)
    labels[:48] = SKY
    return gray, labels


def test_the_result_is_in_colour(model: torch.nn.Module, photo: tuple[torch.Tensor, torch.Tensor]) -> None:
    gray, labels = photo
    assert float(colourfulness(colorize(gray, labels, model, 128))) > 10  # a gray image scores 0


def test_repainting_road_as_tree_recolours_the_region_visibly_and_locally(
    model: torch.nn.Module, photo: tuple[torch.Tensor, torch.Tensor]
) -> None:
    gray, labels = photo
    region = torch.zeros(128, 128, dtype=torch.bool)
    region[72:120, 16:80] = True
    edit = edit_change(model, gray, labels, region, TREE, work_size=128)
    assert edit.inside > VISIBLE and edit.inside > 5 * edit.outside
    assert edit.locality > 0.9
