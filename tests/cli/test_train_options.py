"""``semvis train TASK``: training options come from TrainConfig's fields, with each task's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

from semvis.cli.main import build_parser
from semvis.cli.train import CONFIG_FIELDS, NOT_OPTIONS, config_overrides
from semvis.device import resolve_device
from semvis.train import TrainConfig

#: Each task with its required arguments.
TASKS = {
    "classify": ["--data", "d"],
    "segment": ["--data", "d"],
    "colorize": [],
    "hash": ["--data", "d"],
    "video": ["--data", "d"],
    "dff": ["--data", "d", "--frame-weights", "n.safetensors"],
    "flow": ["--photos", "p"],
}
#: The defaults each task had when it declared its options one by one.
DEFAULTS = {
    "classify": {"epochs": 10, "batch_size": 32, "lr": None, "num_workers": 2, "out_dir": Path("runs/classify")},
    "segment": {"epochs": 50, "batch_size": 8, "lr": None, "num_workers": 2, "ema_decay": None, "amp": None},
    "colorize": {"epochs": 50, "batch_size": 16, "lr": 1e-4, "num_workers": 2, "out_dir": Path("runs/colorize")},
    "hash": {"epochs": 30, "lr": 1e-3, "segment_epochs": 30, "segment_lr": 1e-3, "out_dir": Path("runs/hash")},
    "video": {"epochs": 10, "batch_size": 4, "lr": 1e-3, "out_dir": Path("runs/dff-davis")},
    "dff": {"epochs": 10, "batch_size": 4, "lr": 1e-3, "out_dir": Path("runs/dff-joint")},
    "flow": {"epochs": 10, "batch_size": 8, "lr": 1e-4, "out_dir": Path("runs/flownet")},
}


def parse(task: str, *extra: str) -> Any:
    return build_parser().parse_args(["train", task, *TASKS[task], *extra])


@pytest.mark.parametrize("task", TASKS)
def test_every_task_offers_every_settable_field_with_its_own_defaults(task: str) -> None:
    args = parse(task)
    settable = {name for name in CONFIG_FIELDS if name not in NOT_OPTIONS and name != "optimizer_kwargs"}
    assert settable <= vars(args).keys()
    assert {name: getattr(args, name) for name in DEFAULTS[task]} == DEFAULTS[task]
    assert args.seed == 0 and args.resume is None and args.precision is None


def test_only_what_is_set_overrides_the_recipe() -> None:
    args = parse("segment", "--precision", "bf16", "--momentum", "0.5", "--workers", "0", "--no-resume")
    overrides = config_overrides(args)
    assert overrides == {
        "epochs": 50,
        "batch_size": 8,
        "momentum": 0.5,
        "precision": "bf16",
        "num_workers": 0,
        "seed": 0,
        "out_dir": Path("runs/seg"),
        "resume": False,
    }
    assert "num_workers" not in config_overrides(args, leave_out=("num_workers",))
    assert TrainConfig(**overrides).precision == "bf16"


def test_unknown_choices_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "train", "flow", "--photos", "p", "--precision", "fp8")
    assert code == 2 and "invalid choice: 'fp8'" in err


def test_the_parsed_settings_reach_the_trainer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import semvis.video.flow_train as flow_train

    seen: dict[str, Any] = {}

    def fake_train(photos: Path, **kwargs: Any) -> tuple[None, dict[str, float]]:
        seen.update(kwargs, photos=photos)
        return None, {"epe": 1.0}

    monkeypatch.setattr(flow_train, "train_flownet", fake_train)
    argv = ["train", "flow", "--photos", "p", "--out", str(tmp_path), "--epochs", "3", "--precision", "bf16"]
    code, stdout, err = run_cli(capsys, *argv, "--weight-decay", "0.01")
    assert code == 0, err
    assert callable(seen.pop("progress"))
    assert seen == {
        "photos": Path("p"),
        "name": "simple",
        "size": (192, 256),
        "pairs": 4000,
        "epochs": 3,
        "batch_size": 8,
        "lr": 1e-4,
        "weight_decay": 0.01,
        "precision": "bf16",
        "seed": 0,
        "out_dir": tmp_path,
        "device": resolve_device("auto"),  # no --device: auto, resolved by semvis.cli.main
    }
    assert "epe=1" in stdout
