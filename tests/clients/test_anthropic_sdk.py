"""The official `anthropic` Python SDK against Realms: messages streamed and not (the SDK's own
`messages.stream` helper), token counting, the model list, and the SDK's own exceptions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anthropic
import pytest

from conftest import FAKE_CACHE_WRITE, FAKE_TEXT, Realms, assert_usage

MESSAGES = [{"role": "user", "content": "say hi"}]


@pytest.fixture
def client(realms: Realms) -> anthropic.Anthropic:
    # The SDK appends `/v1/...` itself and sends the key as `x-api-key`.
    return anthropic.Anthropic(base_url=realms.url, api_key=realms.token, max_retries=0, timeout=30)


def test_messages(client: anthropic.Anthropic, realms: Realms, mark: int) -> None:
    out = client.messages.create(model="claude-fake", max_tokens=64, messages=MESSAGES)
    assert out.content[0].type == "text" and out.content[0].text == FAKE_TEXT
    assert out.usage.cache_read_input_tokens == 32
    event = realms.wait_one(mark)
    assert_usage(
        event,
        realms,
        model="claude-fake",
        endpoint="/v1/messages",
        stream=False,
        cache_write=FAKE_CACHE_WRITE,
        reasoning=0,
    )


def test_messages_stream(client: anthropic.Anthropic, realms: Realms, mark: int) -> None:
    with client.messages.stream(model="claude-fake", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == FAKE_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 48
    event = realms.wait_one(mark)
    assert_usage(
        event,
        realms,
        model="claude-fake",
        endpoint="/v1/messages",
        stream=True,
        cache_write=FAKE_CACHE_WRITE,
        reasoning=0,
    )


def test_messages_create_stream_true(client: anthropic.Anthropic, realms: Realms, mark: int) -> None:
    events = list(
        client.messages.create(model="claude-fake", max_tokens=64, messages=MESSAGES, stream=True)
    )
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    event = realms.wait_one(mark)
    assert event["is_stream"] is True and event["output_tokens"] == 48


def test_count_tokens(client: anthropic.Anthropic, realms: Realms, mark: int) -> None:
    out = client.messages.count_tokens(model="claude-fake", messages=MESSAGES)
    assert out.input_tokens == 120
    event = realms.wait_one(mark)
    assert event["endpoint"] == "/v1/messages/count_tokens"
    assert event["status_code"] == 200 and event["model"] == "claude-fake"


def test_models_list(client: anthropic.Anthropic) -> None:
    # only what Anthropic's Messages API can reach: the models an Anthropic channel serves
    page = client.models.list()
    ids = sorted(m.id for m in page.data)
    assert ids == ["claude-fake"]
    assert all(m.type == "model" for m in page.data)


def test_wrong_key_is_authentication_error(realms: Realms) -> None:
    bad = anthropic.Anthropic(base_url=realms.url, api_key="sk_wrong_key_for_tests", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model="claude-fake", max_tokens=8, messages=MESSAGES)
    assert err.value.status_code == 401
    assert err.value.body["type"] == "error"


def test_unknown_model_is_not_found(client: anthropic.Anthropic, realms: Realms, mark: int) -> None:
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="no-such-model", max_tokens=8, messages=MESSAGES)
    assert err.value.status_code == 404
    assert err.value.body["error"]["type"] == "not_found_error"
    event = realms.wait_one(mark)
    assert event["status_code"] == 404 and event["input_tokens"] == 0


def test_paced_stream_with_pings(realms: Realms, mark: int) -> None:
    # The fake pauses 1.2 s between events, longer than run.sh's 1 s keepalive interval, so
    # Realms sends Anthropic `ping` events in between. One request reads the raw lines, the
    # other goes through the SDK's stream helper (which must skip them); both at once.
    paced = anthropic.Anthropic(
        base_url=realms.url,
        api_key=realms.token,
        max_retries=0,
        timeout=60,
        default_headers={"x-fake-pace-ms": "1200", "x-fake-events": "2"},
    )
    body = {"model": "claude-fake", "max_tokens": 64, "messages": MESSAGES}

    def raw() -> list[str]:
        with paced.messages.with_streaming_response.create(**body, stream=True) as resp:
            return list(resp.iter_lines())

    def parsed() -> str:
        with paced.messages.stream(**body) as stream:
            return "".join(stream.text_stream)

    with ThreadPoolExecutor(2) as pool:
        lines, text = pool.submit(raw), pool.submit(parsed)
        assert "event: ping" in lines.result()
        assert text.result() == "Hello from"
    events = realms.wait_usage(mark, 2)
    assert [e["is_stream"] for e in events] == [True, True]
