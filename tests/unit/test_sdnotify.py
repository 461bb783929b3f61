"""The notification protocol's edges: outside systemd nothing is sent and nothing breaks; the
abstract namespace; a watchdog meant for another process is not petted."""

from __future__ import annotations

import os
import socket
import uuid

from fsm_risk.adapters.sdnotify import SystemdNotifier


def test_outside_systemd_every_call_is_a_no_op() -> None:
    n = SystemdNotifier({})
    assert not n.enabled and n.watchdog_interval is None
    n.ready()
    n.watchdog()
    n.stopping()


def test_an_abstract_socket_receives_the_messages() -> None:
    name = f"fsm-risk-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "900000"})
        assert n.watchdog_interval == 0.3
        n.ready("enforcing 2 account(s)")
        n.watchdog()
        n.stopping()
        got = [sock.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=enforcing 2 account(s)", "WATCHDOG=1", "STOPPING=1"]


def test_a_watchdog_for_another_process_is_not_petted() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "900000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(env).watchdog_interval is None


def test_a_vanished_manager_never_raises() -> None:
    SystemdNotifier({"NOTIFY_SOCKET": "/nonexistent/notify"}).ready()


def test_a_start_that_goes_on_pushes_the_start_timeout() -> None:
    name = f"fsm-risk-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).extend_start(180)
        assert sock.recv(4096).decode() == "EXTEND_TIMEOUT_USEC=180000000"
