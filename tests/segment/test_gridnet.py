import pytest
import torch

from semvis.segment import GridNet
from semvis.segment.gridnet import COLUMNS, ROW_DEPTHS

#: A narrow 5-row grid: the paper's layout at a fraction of the cost, for tests that run it.
NARROW = (4, 6, 8, 8, 8)


def paper_parameter_count(in_channels: int, num_classes: int) -> int:
    """Weights of the 5×6 grid: bias-free 3×3 convs, BN scale and shift, a biased classifier."""
    d = ROW_DEPTHS
    residual = sum(2 * 9 * c * c + 2 * 2 * c for c in d)  # per column
    down = sum(2 * a + 9 * a * b + 2 * b + 9 * b * b for a, b in zip(d, d[1:]))
    up = sum(2 * b + 9 * b * a + 2 * a + 9 * a * a for a, b in zip(d, d[1:]))
    stem, head = 9 * in_channels * d[0], 2 * d[0] + 9 * d[0] * num_classes + num_classes
    return stem + (COLUMNS - 1) * residual + COLUMNS // 2 * (down + up) + head


def test_parameter_count_of_the_paper_grid() -> None:
    model = GridNet(11)
    count = sum(p.numel() for p in model.parameters())
    assert count == paper_parameter_count(1, 11) == 13_164_651


@pytest.mark.parametrize("size", [(45, 60), (7, 13), (1, 1), (64, 48)])
def test_any_input_size_maps_back_to_itself(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = GridNet(5, in_channels=3, depths=NARROW).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, *size)).shape == (2, 5, *size)


def test_rows_have_the_paper_depths_and_halve_the_resolution() -> None:
    paper = GridNet(11)
    for column in paper.lateral:
        assert [unit.body[2].in_channels for unit in column] == list(ROW_DEPTHS)
    assert [unit[2].out_channels for unit in paper.down[0]] == list(ROW_DEPTHS[1:])
    assert [unit.deconv.out_channels for unit in paper.up[0]] == list(ROW_DEPTHS[:-1])
    model = GridNet(11, depths=NARROW).eval()
    shapes = []
    hooks = [unit.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for unit in model.lateral[0]]
    with torch.no_grad():
        model(torch.rand(1, 1, 64, 96))
    for hook in hooks:
        hook.remove()
    assert shapes == [(d, 64 // 2**r, 96 // 2**r) for r, d in enumerate(NARROW)]


def test_every_row_of_the_first_column_reaches_the_output() -> None:
    torch.manual_seed(0)
    model = GridNet(3, depths=NARROW).eval()
    # first column: row 0 is the stem's output, row r the output of the sub-sampling unit into it
    sources = [model.stem, *model.down[0]]
    features: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        output.retain_grad()
        features.append(output)

    hooks = [m.register_forward_hook(keep) for m in sources]
    out = model(torch.rand(1, 1, 32, 32))
    (out * torch.randn_like(out)).sum().backward()
    for hook in hooks:
        hook.remove()
    assert len(features) == len(NARROW)
    for row, x in enumerate(features):
        assert x.shape[1] == NARROW[row]
        assert x.grad is not None and x.grad.abs().sum() > 0, f"row {row} does not reach the output"


def test_total_dropout_drops_whole_units_per_sample_only_in_training() -> None:
    torch.manual_seed(0)
    model = GridNet(3, total_dropout=0.5, depths=(4, 8), columns=2)
    y = model._drop(torch.ones(4000, 2, 3, 3))
    per_sample = y.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()  # a unit is kept (×1/(1−p)) or dropped
    assert abs(y.mean().item() - 1.0) < 0.1
    x = torch.rand(2, 1, 16, 16)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        assert torch.equal(model._drop(x), x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": 5}, "even"),
        ({"columns": 0}, "even"),
        ({"depths": (16,)}, "two or more"),
        ({"total_dropout": 1.0}, r"\[0, 1\)"),
        ({"num_classes": 0}, "positive"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GridNet(**({"num_classes": 3} | kwargs))


def test_wrong_channel_count_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"N×1×H×W"):
        GridNet(3)(torch.rand(1, 3, 8, 8))
