import pickle
import socket
import subprocess
import sys
import time

import pytest
import torch
from torchvision.models import resnet18

from core import weights
from core.weights import State, WeightsUnavailable

PACKAGED = [name for name, s in weights.SOURCES.items() if s.package]


def test_catalogue_lists_every_source_with_a_known_state():
    rows = weights.catalogue()
    assert [r["name"] for r in rows] == list(weights.SOURCES)
    assert {r["state"] for r in rows} <= {s.value for s in State}
    for required in ("mtcnn_pnet", "mobilenet_v2_features", "efficientnet_lite0_imagenet", "yolov8s_people",
                     "resnet18_imagenet", "resnet152_imagenet", "alexnet_imagenet", "vgg16_imagenet",
                     "mobilenet_v3_large_imagenet", "regnet_y_400mf_imagenet", "yolov8n_coco", "yolo11n_coco"):
        assert required in weights.SOURCES


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_files_are_present_and_match_their_digest(name):
    assert weights.state(name) is State.PACKAGED
    assert weights.verify(name), f"{name}: sha256 of the installed file differs from the catalogue"


def test_offline_missing_source_explains_file_place_and_command():
    assert weights.state("resnet18_imagenet") is State.MISSING
    with pytest.raises(WeightsUnavailable) as info:
        weights.fetch("resnet18_imagenet")
    message = str(info.value)
    for part in ("resnet18-f37072fd.pth", "no network", "hub/checkpoints", "python -m core.weights fetch"):
        assert part in message


def test_cached_file_in_user_dir_is_found_and_loaded_weights_only(isolated_env):
    folder = isolated_env / "weights"
    folder.mkdir()
    state = resnet18().state_dict()
    torch.save(state, folder / "resnet18-f37072fd.pth")
    assert weights.state("resnet18_imagenet") is State.CACHED
    loaded = weights.load_state_dict("resnet18_imagenet")
    assert torch.equal(loaded["fc.weight"], state["fc.weight"])
    assert not weights.verify("resnet18_imagenet"), "a random-init file must not pass the digest check"


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_hostile_pickle_in_cache_is_refused(isolated_env):
    folder = isolated_env / "weights"
    folder.mkdir()
    (folder / "resnet18-f37072fd.pth").write_bytes(pickle.dumps({"w": _Payload()}))
    with pytest.raises(WeightsUnavailable, match="could not be read safely"):
        weights.load_state_dict("resnet18_imagenet")


def test_cli_prints_table_and_fetch_fails_with_one_message(capsys):
    env = {"TLDASH_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    table = subprocess.run([sys.executable, "-m", "core.weights"], capture_output=True, text=True, env=env)
    assert table.returncode == 0 and "efficientnet_lite0_imagenet" in table.stdout and "packaged" in table.stdout
    assert weights.main(["fetch", "vgg16_imagenet"]) == 2  # in this process: the entry point is checked above
    assert "vgg16-397923af.pth" in capsys.readouterr().err
    assert weights.main(["fetch", "nope"]) == 2 and "choose from" in capsys.readouterr().err


def test_network_probe_is_bounded_and_answers_for_loopback(monkeypatch):
    monkeypatch.delenv("TLDASH_OFFLINE")
    weights._host_reachable.cache_clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert weights._host_reachable("127.0.0.1", port)
    finally:
        server.close()
    weights._host_reachable.cache_clear()
    start = time.perf_counter()
    assert not weights._host_reachable("127.0.0.1", port)
    assert time.perf_counter() - start < weights.PROBE_TIMEOUT_S + 1
