"""The official `openai` Python SDK against Realms: chat and responses, streamed and not,
embeddings, the model list, and the SDK's own exceptions for Realms' errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from conftest import FAKE_TEXT, Realms, assert_usage


@pytest.fixture
def client(realms: Realms) -> openai.OpenAI:
    return openai.OpenAI(base_url=realms.v1, api_key=realms.token, max_retries=0, timeout=30)


def test_chat(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    out = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "say hi"}]
    )
    assert out.choices[0].message.content == FAKE_TEXT
    assert out.usage is not None and out.usage.prompt_tokens == 120
    event = realms.wait_one(mark)
    assert_usage(event, realms, model="gpt-fake", endpoint="/v1/chat/completions", stream=False)


def test_chat_stream(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "say hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == FAKE_TEXT
    assert usage is not None and usage.completion_tokens == 48
    event = realms.wait_one(mark)
    assert_usage(event, realms, model="gpt-fake", endpoint="/v1/chat/completions", stream=True)


def test_chat_stream_without_asking_for_usage(
    client: openai.OpenAI, realms: Realms, mark: int
) -> None:
    """Realms asks the upstream for usage itself; a client that did not ask gets no chunk
    without choices, so code reading `choices[0]` of every chunk works, and the call is still
    recorded with its tokens."""
    stream = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "say hi"}], stream=True
    )
    text = ""
    for chunk in stream:
        assert chunk.usage is None
        text += chunk.choices[0].delta.content or ""
    assert text == FAKE_TEXT
    event = realms.wait_one(mark)
    assert_usage(event, realms, model="gpt-fake", endpoint="/v1/chat/completions", stream=True)


def test_responses(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    out = client.responses.create(model="gpt-fake", input="say hi")
    assert out.output_text == FAKE_TEXT
    assert out.status == "completed"
    event = realms.wait_one(mark)
    assert_usage(event, realms, model="gpt-fake", endpoint="/v1/responses", stream=False)


def test_responses_stream(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    with client.responses.stream(model="gpt-fake", input="say hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == FAKE_TEXT
    assert final.output_text == FAKE_TEXT
    assert final.usage is not None and final.usage.input_tokens_details.cached_tokens == 32
    event = realms.wait_one(mark)
    assert_usage(event, realms, model="gpt-fake", endpoint="/v1/responses", stream=True)


def test_embeddings(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    out = client.embeddings.create(model="text-embedding-fake", input=["one", "two"])
    assert len(out.data) == 2
    assert all(len(d.embedding) > 0 and isinstance(d.embedding[0], float) for d in out.data)
    event = realms.wait_one(mark)
    assert event["model"] == "text-embedding-fake"
    assert event["endpoint"] == "/v1/embeddings"
    assert event["status_code"] == 200 and event["is_stream"] is False
    assert event["input_tokens"] == out.usage.prompt_tokens > 0
    assert event["output_tokens"] == 0


def test_models_list(client: openai.OpenAI) -> None:
    # only what OpenAI's APIs can reach: the OpenAI-compatible and Codex channels' models
    ids = sorted(m.id for m in client.models.list())
    assert ids == ["gpt-codex-fake", "gpt-fake", "text-embedding-fake"]


def test_wrong_key_is_authentication_error(realms: Realms) -> None:
    bad = openai.OpenAI(base_url=realms.v1, api_key="sk_wrong_key_for_tests", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 401


def test_unknown_model_is_not_found(client: openai.OpenAI, realms: Realms, mark: int) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 404
    # The refusal is recorded too, with no tokens and no cost.
    event = realms.wait_one(mark)
    assert event["status_code"] == 404 and event["input_tokens"] == 0


def test_paced_stream_with_keepalives(realms: Realms, mark: int) -> None:
    # The fake pauses 1.2 s between events, longer than run.sh's 1 s keepalive interval, so
    # Realms sends `: keepalive` comments in between. One request reads the raw lines (to see
    # them), the other goes through the SDK's parser (which must skip them); both at once.
    paced = openai.OpenAI(
        base_url=realms.v1,
        api_key=realms.token,
        max_retries=0,
        timeout=60,
        default_headers={"x-fake-pace-ms": "1200", "x-fake-events": "2"},
    )
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    def raw() -> list[str]:
        with paced.chat.completions.with_streaming_response.create(**body) as resp:
            return list(resp.iter_lines())

    def parsed() -> str:
        chunks = paced.chat.completions.create(**body)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with ThreadPoolExecutor(2) as pool:
        lines, text = pool.submit(raw), pool.submit(parsed)
        assert ": keepalive" in lines.result()
        assert text.result() == "Hello from"
    events = realms.wait_usage(mark, 2)
    assert [e["is_stream"] for e in events] == [True, True]
