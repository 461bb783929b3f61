"""The real gateway refuses a login with a code of its own (9: no API subscription, 10: API
key sign-in disabled); the SDK reduces every refusal to "Authentication failed". The service
must say which it was, at once (a refusal is final), without the key."""

from __future__ import annotations

import dataclasses

import pytest

from fsm_risk.adapters.broker import Credentials, ProjectXBroker, sdk_config
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper.gateway import PaperGateway
from fsm_risk.paper.settings import PaperSettings

pytestmark = pytest.mark.e2e

KEY = "the-secret-api-key-42"


async def refused_login(settings: PaperSettings, key: str = KEY) -> str:
    gw = PaperGateway(settings)
    await gw.start()
    try:
        broker = ProjectXBroker(
            sdk_config(gw.api_url, gw.user_hub_url, gw.market_hub_url),
            Credentials("paper", key),
            lambda item: None,
        )
        with pytest.raises(FsmRiskError) as caught:
            await broker.start()
        await broker.stop()
        return str(caught.value)
    finally:
        await gw.stop()


@pytest.mark.parametrize(
    ("refusal", "code", "words"),
    [
        ("api_subscription_not_found", 9, "no API subscription"),
        ("api_key_authentication_disabled", 10, "API key sign-in is disabled"),
    ],
)
async def test_a_refused_login_names_the_gateways_reason_and_code(
    refusal: str, code: int, words: str
) -> None:
    message = await refused_login(dataclasses.replace(PaperSettings(), login_refusal=refusal))
    assert f"(errorCode {code})" in message and words in message
    assert "'paper'" in message and KEY not in message


async def test_a_wrong_key_is_named_as_such() -> None:
    message = await refused_login(
        dataclasses.replace(PaperSettings(), api_key="the-right-api-key-0"), key=KEY
    )
    assert "(errorCode 3)" in message and "check the username and the API key" in message
    assert KEY not in message
