"""Every example a person is shown does what it says: the paper gateway's banner, the
"Try it" lines `fsm-risk serve` prints, and the README's demo. Each ``curl`` line is parsed
from the very text shown and sent to a gateway started for the test."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx

from fsm_risk import config, runtime
from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.cli import banner
from tests.e2e.service_harness import ACCOUNT, Harness

ROOT = Path(__file__).resolve().parents[2]
MNQ = "CON.F.US.MNQ.Z26"


def curls(text: str) -> list[tuple[str, str, dict[str, object] | None, str]]:
    """(method, url, JSON body, the comment after it) of every curl line in ``text``."""
    found = []
    for line in text.splitlines():
        line = line.strip().rstrip("\\").strip()
        if not line.startswith("curl "):
            continue
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
        url = next(w for w in words if w.startswith("http"))
        found.append((method, url, body, comment.strip()))
    return found


def readme_demo() -> str:
    """The README's demo: its curl command joined onto one line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\ncurl .*?```", text, re.DOTALL)
    assert block is not None, "the README shows a curl demo"
    return block.group(0).replace("\\\n", " ")


async def send(gateway: PaperGateway, method: str, url: str, body: object) -> httpx.Response:
    """Send a shown request to this test's gateway (the text may name the default port)."""
    path = url.split("/_paper", 1)[1]
    async with httpx.AsyncClient(base_url=gateway.control_url) as client:
        return await client.request(method, path, json=body)


async def test_every_banner_example_is_accepted_and_does_what_it_says(
    paper_gateway: PaperGateway,
) -> None:
    examples = curls(banner(paper_gateway))
    assert len(examples) >= 8
    for method, url, body, _ in examples:
        reply = await send(paper_gateway, method, url, body)
        assert reply.status_code == 200, (url, body, reply.text)
        if url.endswith(f"/accounts/{ACCOUNT}"):
            assert paper_gateway.account(ACCOUNT).can_trade is False  # it changed something


async def test_an_unknown_control_key_is_refused_by_name(paper_gateway: PaperGateway) -> None:
    reply = await send(paper_gateway, "POST", f"/_paper/accounts/{ACCOUNT}", {"canTrade": False})
    assert reply.status_code == 400
    assert reply.json()["error"] == (
        "unknown key 'canTrade' (this request takes: balance, can_trade)"
    )
    assert paper_gateway.account(ACCOUNT).can_trade is True


async def test_the_serve_try_it_lines_and_the_readme_demo_do_what_they_say(h: Harness) -> None:
    """With the shipped rules (trading hours aside, as `serve --demo`): the README's order
    and serve's first line close the excess down to 3; the second line's loss locks the
    account by the daily loss limit, as its comment says, and by nothing stronger."""
    shipped = runtime.demo_settings(runtime.bootstrap.load_settings(str(ROOT / "settings.ini")))
    described = config.describe(shipped)  # the shipped rule sections, every value
    await h.start(described[described.index("[rule.max_contracts]") :])
    gw = h.gateway
    text = runtime.try_it_text(ACCOUNT, gw.control_url)  # exactly as serve prints it
    [order, loss] = curls(text)
    [(method, url, body, _)] = curls(readme_demo())
    assert (method, body) == (order[0], order[2])  # the README shows the same order
    assert "the excess is closed" in order[3]
    reply = await send(gw, method, url, body)
    assert reply.status_code == 200, reply.text
    await h.gw_until(lambda: h.position("MNQ") == 3, "the excess closed down to 3")
    assert "past the daily loss limit: flattened and LockedDaily" in loss[3]
    reply = await send(gw, loss[0], loss[1], loss[2])
    assert reply.status_code == 200, reply.text
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the daily loss")
    assert h.position("MNQ") == 0
    assert set(h.acct.holds) == {"RULE-003"}, h.acct.holds  # not the drawdown or weekly limit
