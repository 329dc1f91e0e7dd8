"""The bot's own gateway failing reaches the operator's log; members are told who must act."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from bot.errors import GatewayAuthError, PaymentRequired
from bot.operator_alerts import OperatorAlerts
from tests.fakes.gateway import Reply, openai_error
from tests.harness import GATEWAY_KEY, BotHarness, use_own_gateway

WRONG_KEY = "sk-wrong-operator-key-0000000000"
KEY_WARNING = (
    "the bot's gateway {address} rejected the API key (model {model}): set a valid IMAGE_API_KEY; "
    "it said: Invalid API key."
)


def operator_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.operator"]


async def test_a_rejected_key_on_the_bot_s_gateway_names_the_owner_and_warns_once(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, api_key=WRONG_KEY))
    caplog.set_level(logging.WARNING, logger="bot.operator")
    for prompt in ("a cat", "a dog"):
        st = await h.result(await h.fake.slash("imagine", {"prompt": prompt}))
        assert st.last_message.content == (
            "The image service rejected the API key. The service said: Invalid API key. "
            "The bot's owner needs to set a valid key for the bot's gateway."
        )
    assert len(h.gw.requests) == 2
    assert operator_warnings(caplog) == [
        KEY_WARNING.format(address=h.gw.base_url, model=h.settings.image.model)
    ]
    assert WRONG_KEY not in caplog.text


async def test_out_of_credit_on_the_bot_s_gateway_names_the_owner(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    caplog.set_level(logging.WARNING, logger="bot.operator")
    h.gw.script(Reply(status=402, body=openai_error("Insufficient credits", code=402)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.last_message.content == (
        "The image service account is out of credit. The service said: Insufficient "
        "credits. The bot's owner needs to top it up."
    )
    (line,) = operator_warnings(caplog)
    assert "says the account is out of credit" in line and "top up that account" in line


async def test_a_server_s_own_gateway_names_its_admins_and_is_not_the_operator_s_problem(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    await use_own_gateway(h, WRONG_KEY)
    caplog.set_level(logging.WARNING, logger="bot.operator")
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.last_message.content == (
        "The image service rejected the API key. The service said: Invalid API key. "
        "A server admin needs to set a valid key with /settings gateway."
    )
    assert h.gw.requests[0].headers["authorization"] == f"Bearer {WRONG_KEY}"
    assert operator_warnings(caplog) == []
    assert GATEWAY_KEY not in caplog.text


def test_alerts_are_per_kind_and_come_back_after_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    alerts = OperatorAlerts(interval=300, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="bot.operator")
    url = "https://user:pw@gw.example:8443/v1"
    assert alerts.gateway_failed(GatewayAuthError(), base_url=url, model="m")
    assert not alerts.gateway_failed(GatewayAuthError(), base_url=url, model="m")
    assert alerts.gateway_failed(PaymentRequired(), base_url=url, model="m")
    now[0] += 299
    assert not alerts.gateway_failed(GatewayAuthError(), base_url=url, model="m")
    now[0] += 1
    assert alerts.gateway_failed(GatewayAuthError(), base_url=url, model="m")
    assert len(operator_warnings(caplog)) == 3
    assert "pw" not in caplog.text and "gw.example:8443" in caplog.text
