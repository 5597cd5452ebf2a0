import torch

from core import devices


def test_force_cpu_by_argument_and_by_environment(monkeypatch):
    assert devices.pick_device(force_cpu=True).type == "cpu"
    monkeypatch.setenv(devices.FORCE_CPU_ENV, "1")
    assert devices.pick_device().type == "cpu"


def test_order_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.pick_device().type == "cuda"
    assert devices.pick_device(force_cpu=True).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.pick_device().type == "cpu"


def test_describe_names_the_device():
    assert devices.describe(torch.device("cpu")).startswith("cpu: ")
