"""The training state's random numbers: each CUDA device gets its own back, on any machine."""

from __future__ import annotations

import pytest
import torch

from recsys_kit.nn.training import checkpoints


def test_cuda_random_states_go_to_the_devices_this_machine_has(
        monkeypatch: pytest.MonkeyPatch) -> None:
    restored: list[tuple[int, int]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state",
                        lambda state, device: restored.append((device, int(state[0]))))
    # Saved on a machine with 11 GPUs: device 10 sorts before 2 as text, not as a number.
    saved = {index: torch.tensor([index], dtype=torch.uint8) for index in range(11)}
    checkpoints.restore_cuda_rng(saved)
    assert restored == [(0, 0), (1, 1)]


def test_no_cuda_random_state_is_restored_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *args: pytest.fail("restored"))
    checkpoints.restore_cuda_rng({0: torch.zeros(1, dtype=torch.uint8)})
