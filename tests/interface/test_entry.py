"""The program's first lines (interface/entry.py): a signal ignored on purpose stays ignored.

`nohup cnnfeat ...` and a shell's background jobs (`cnnfeat embed ... &`) start with SIGINT
(and, for nohup, SIGHUP) ignored; installing the exit-at-once handler over that would let a
Ctrl-C typed in the terminal kill the background job. Found by breaking the check on purpose
(issue 13, hollow tests): no other test covered it.
"""

from __future__ import annotations

import signal
import sys

import pytest

import cnnfeat.cli
from cnnfeat import entry

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def handlers_during_app(monkeypatch: pytest.MonkeyPatch):
    """Run entry.main with a stand-in app that records the SIGINT/SIGTERM handlers it sees;
    every handler is put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen: dict[int, object] = {}
    monkeypatch.setattr(cnnfeat.cli, "app", lambda: seen.update(
        {s: signal.getsignal(s) for s in saved}))  # fmt: skip
    yield seen
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_ignored_signals_stay_ignored(handlers_during_app: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    entry.main()
    assert handlers_during_app == {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}


def test_default_signals_exit_at_once(handlers_during_app: dict) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    entry.main()
    assert handlers_during_app == {
        signal.SIGINT: entry.exit_at_once,
        signal.SIGTERM: entry.exit_at_once,
    }
