"""`notify.send_now`: one notice sent by a command (the take-over of the admin secret), to every
URL taking its event, each once, a refused attempt re-sent, a timed-out one not."""

from __future__ import annotations

from pathlib import Path

from fsm_risk import config
from fsm_risk.notify import REFUSED, SENT, TIMED_OUT, Notice, send_now

A, B, C, D = (f"json://127.0.0.1:9/{p}" for p in "abcd")


def _settings(tmp_path: Path) -> config.Settings:
    path = tmp_path / "settings.ini"
    path.write_text(
        f"[general]\naccounts = 1001, 1002\n[notify]\nurls = {A}, {B}\nevents = admin\n"
        f"retries = 2\n[notify.1001]\nurls = {A}, {C}\nevents = all\n"
        f"[notify.1002]\nurls = {D}\nevents = lock\n"
    )
    return config.load(path)


def test_each_url_taking_the_event_once_refused_ones_again(tmp_path: Path) -> None:
    answers = {A: [SENT], B: [REFUSED, REFUSED, SENT], C: [TIMED_OUT, SENT]}
    tried: list[str] = []
    waits: list[float] = []

    def send(url: str, notice: Notice) -> str:
        tried.append(url)
        return answers[url].pop(0)

    notice = Notice("admin", "title", "body", None, "warning")
    sent, failed = send_now(_settings(tmp_path), notice, send=send, pause=waits.append)
    assert tried == [A, B, B, B, C]  # A once though in two targets; D takes no admin events
    assert waits == [1, 2]  # B refused twice: 1 s, then 2 s
    assert sent == ["all accounts (URL 1 of 2)", "all accounts (URL 2 of 2)"]
    assert failed == ["[notify.1001] (URL 2 of 2)"]  # C: no answer in time, not sent again


def test_a_refusing_url_is_given_up_after_the_retries(tmp_path: Path) -> None:
    def send(url: str, notice: Notice) -> str:
        if url == B:
            raise OSError("refused")
        return SENT

    sent, failed = send_now(
        _settings(tmp_path), Notice("admin", "t", "b"), send=send, pause=lambda _: None
    )
    assert failed == ["all accounts (URL 2 of 2)"] and len(sent) == 2
