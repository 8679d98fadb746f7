"""StopSignals (destination_starrocks/stop_signals.py): real signals sent to this process, a fake hard exit.

The end-to-end behaviour (the writer's stop, exit codes, PID 1) is proven against the real entrypoint in
integration_tests/test_stop_signals.py; these cover the paths that are hard to time from outside: a signal
before the writer exists, the hard deadline, a second signal, and giving the handlers back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from destination_starrocks.stop_signals import StopSignals, exit_code_for


class FakeExit:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self.called = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.called.set()


@pytest.fixture
def fake_exit() -> FakeExit:
    return FakeExit()


@pytest.fixture
def stop(fake_exit: FakeExit) -> Iterator[StopSignals]:
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signals = StopSignals(hard_stop_seconds=0.5, hard_exit=fake_exit).install()
    try:
        yield signals
    finally:
        signals.uninstall()
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous


def _wait(event: threading.Event, seconds: float = 5.0) -> bool:
    return event.wait(seconds)


def test_a_signal_asks_the_attached_writer_to_stop_once(stop: StopSignals) -> None:
    asked: list[str] = []
    called = threading.Event()
    stop.attach(lambda name: (asked.append(name), called.set()))
    os.kill(os.getpid(), signal.SIGTERM)
    assert _wait(called)
    assert asked == ["SIGTERM"] and stop.signalled and stop.exit_code == 143
    stop.exit_now(stop.exit_code)  # the main thread finished in time: no second, hard exit follows
    time.sleep(0.7)
    assert asked == ["SIGTERM"]


def test_a_signal_before_the_writer_exists_stops_it_when_it_is_attached(stop: StopSignals, fake_exit) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + 5
    while not stop.signalled and time.monotonic() < deadline:
        time.sleep(0.01)
    asked: list[str] = []
    stop.attach(asked.append)
    assert asked == ["SIGINT"] and stop.exit_code == 130
    stop.exit_now(130)
    assert fake_exit.codes == [130]


def test_the_process_ends_at_the_hard_deadline_if_the_stop_hangs(
    stop: StopSignals, fake_exit: FakeExit
) -> None:
    stop.attach(lambda name: None)  # a writer that never gets to its safe point
    started = time.monotonic()
    os.kill(os.getpid(), signal.SIGTERM)
    assert _wait(fake_exit.called)
    assert 0.4 <= time.monotonic() - started < 3.0
    assert fake_exit.codes == [exit_code_for(signal.SIGTERM)]


def test_a_second_signal_ends_the_process_at_once(fake_exit: FakeExit) -> None:
    signals = StopSignals(hard_stop_seconds=30, hard_exit=fake_exit).install()
    try:
        signals.attach(lambda name: None)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        assert _wait(fake_exit.called)
        assert time.monotonic() - started < 2.0
        assert fake_exit.codes == [143]
    finally:
        signals.uninstall()


def test_off_the_main_thread_it_installs_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    result: list[StopSignals] = []
    thread = threading.Thread(target=lambda: result.append(StopSignals().install()))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is before and not result[0].signalled
