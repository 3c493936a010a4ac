import math

import kornia
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from semvis.colorize import ab_psnr, colorize, colourfulness, edit_locality, fit_gamut, luma, predict_ab, rgb_to_lab
from semvis.errors import ImageError


class LocalColours(nn.Module):
    """Chroma that depends on each pixel's own label only (a table lookup)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table)  # K×2

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.table[labels].permute(0, 3, 1, 2)


class GlobalColour(nn.Module):
    """One chroma for the whole image, from its mean label."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, luma: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        mean = labels.float().mean(dim=(1, 2)).view(-1, 1, 1, 1) * self.scale
        return mean.expand(-1, 2, *labels.shape[1:])


def smooth_image(h: int = 40, w: int = 60, seed: int = 0) -> torch.Tensor:
    coarse = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, (h, w), mode="bilinear", align_corners=False)[0]


def halves(h: int = 40, w: int = 60) -> torch.Tensor:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, w // 2 :] = 1
    return labels


TABLE = torch.tensor([[0.3, 0.2], [-0.2, -0.3], [0.9, -0.9]])


@pytest.mark.parametrize("table", [TABLE, TABLE * 3], ids=["in-gamut", "out-of-gamut"])
def test_output_keeps_the_full_resolution_l_of_the_input(table: torch.Tensor) -> None:
    image = smooth_image()
    out = colorize(image, halves(), LocalColours(table), work_size=16)
    assert out.shape == (3, 40, 60) and out.min() >= 0 and out.max() <= 1
    assert (rgb_to_lab(out)[0] - luma(image)[0]).abs().max() < 1e-3


def test_chroma_is_predicted_at_work_size_and_upsampled_bilinearly() -> None:
    seen: list[tuple[int, ...]] = []
    model = LocalColours(TABLE)
    model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    ab = predict_ab(model, smooth_image(), halves(), work_size=20)
    assert seen == [(1, 1, 20, 30)]  # shorter side 40 → 20, aspect kept
    assert ab.shape == (2, 40, 60)
    assert torch.allclose(ab[:, :, :25], TABLE[0].view(2, 1, 1)) and torch.allclose(
        ab[:, :, 35:], TABLE[1].view(2, 1, 1)
    )
    assert ((ab[0, :, 28:32] < 0.3) & (ab[0, :, 28:32] > -0.2)).any()  # blended at the boundary


def test_gray_colour_and_pil_inputs_agree() -> None:
    gray = (smooth_image()[:1] * 255).round() / 255  # 8-bit exact, like the PIL copy below
    model = LocalColours(TABLE)
    from_gray = colorize(gray, halves(), model, work_size=20)
    from_rgb = colorize(gray.expand(3, -1, -1), halves(), model, work_size=20)
    assert torch.equal(from_gray, from_rgb)
    pil = Image.fromarray((gray[0] * 255).round().byte().numpy(), "L")
    from_pil = colorize(pil, halves().numpy(), model, work_size=20)
    assert torch.allclose(from_pil, from_gray, atol=1e-6)


def test_mismatched_label_map_is_an_image_error() -> None:
    with pytest.raises(ImageError, match="label map is 59x40 but the image is 60x40"):
        colorize(smooth_image(), halves()[:, :59], LocalColours(TABLE))


def test_fit_gamut_keeps_l_and_hue_and_leaves_displayable_colours_alone() -> None:
    lab = torch.tensor([[0.0, 0.0, 0.8], [0.1, 0.9, -0.9], [0.05, 0.9, 0.6]]).view(3, 1, 3)
    fitted = fit_gamut(lab)
    assert torch.equal(fitted[:, :, 0], lab[:, :, 0])  # neutral gray: in gamut, untouched
    assert torch.equal(fitted[0], lab[0])
    ratio = fitted[1:, :, 1:] / lab[1:, :, 1:]
    assert torch.allclose(ratio[0], ratio[1]) and (ratio < 1).all()  # same hue, less chroma
    raw = torch.cat([(fitted[:1] + 1) * 50, fitted[1:] * 110])
    rgb = kornia.color.lab_to_rgb(raw, clip=False)
    assert rgb.min() > -1e-3 and rgb.max() < 1 + 1e-3


def test_edit_locality_of_a_local_model_is_one() -> None:
    labels = halves()
    region = torch.zeros(40, 60, dtype=torch.bool)
    region[10:20, 5:15] = True
    share = edit_locality(LocalColours(TABLE), smooth_image(), labels, region, new_label=2, work_size=40)
    assert share == 1.0


def test_edit_locality_of_a_global_model_is_the_region_share() -> None:
    region = torch.zeros(40, 60, dtype=torch.bool)
    region[:20, :30] = True  # a quarter of the image
    share = edit_locality(GlobalColour(), smooth_image(), halves(), region, new_label=2, work_size=40)
    assert share == pytest.approx(0.25)


def test_edit_locality_without_any_change_is_nan() -> None:
    region = torch.zeros(40, 60, dtype=torch.bool)
    region[:, :30] = True  # already label 0
    assert math.isnan(edit_locality(LocalColours(TABLE), smooth_image(), halves(), region, 0, work_size=40))


def test_colourfulness_of_gray_is_zero() -> None:
    gray = torch.rand(1, 16, 16).expand(3, -1, -1)
    assert colourfulness(gray).item() == pytest.approx(0.0, abs=1e-4)


def test_colourfulness_of_half_red_half_blue() -> None:
    # rg: 255 | 0 → μ 127.5, σ 127.5; yb: 127.5 | −255 → μ −63.75, σ 191.25
    image = torch.zeros(3, 8, 8)
    image[0, :, :4] = 1.0
    image[2, :, 4:] = 1.0
    expected = math.hypot(127.5, 191.25) + 0.3 * math.hypot(127.5, 63.75)
    assert expected == pytest.approx(272.619, abs=1e-3)
    assert colourfulness(image).item() == pytest.approx(expected, rel=1e-6)
    assert colourfulness(torch.stack([image, image.flip(0)])).shape == (2,)


def test_ab_psnr_known_values() -> None:
    true = torch.rand(3, 2, 8, 8) * 2 - 1
    offsets = torch.tensor([0.2, 0.02, 0.0]).view(3, 1, 1, 1)
    psnr = ab_psnr(true + offsets, true)
    assert psnr[:2].tolist() == pytest.approx([20.0, 40.0], abs=1e-3)  # 10·log10(2² / 0.2²) = 20 dB
    assert math.isinf(psnr[2].item())
    assert ab_psnr(true[0] + 0.2, true[0]).dim() == 0
    # unit-free: Lab units with peak 220 give the same number
    lab_units = 10 * np.log10(220.0**2 / ((0.2 * 110) ** 2))
    assert lab_units == pytest.approx(20.0)
