"""Breaking the sweep of dead runs' temporaries (runtime/writing.py, sweep_temporaries)."""

from __future__ import annotations

import os
import sys

import pytest

from cnnfeat.runtime import writing


def test_no_process_is_signalled_to_learn_whether_it_lives_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On Windows os.kill(pid, 0) is TerminateProcess: it would end whatever process now has
    # the PID of a dead run's temporary.
    signalled: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: signalled.append(pid))
    monkeypatch.setattr(sys, "platform", "win32")
    assert writing.pid_alive(os.getpid() + 1)
    assert signalled == []
