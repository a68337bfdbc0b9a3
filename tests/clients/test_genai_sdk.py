"""The official `google-genai` Python SDK against Realms (`x-goog-api-key`, `/v1beta/models/...`):
generate and stream, token counting, the model list and the SDK's errors. Its stream reader
accepts only `data:` lines, so a paced stream also checks Realms adds nothing else while idle."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from conftest import FAKE_TEXT, Realms, assert_usage

MODEL = "gemini-fake"


def make_client(realms: Realms, key: str, headers: dict[str, str] | None = None) -> genai.Client:
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=realms.url,
            headers=headers or {},
            timeout=30_000,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


@pytest.fixture
def client(realms: Realms) -> genai.Client:
    return make_client(realms, realms.token)


def test_generate_content(client: genai.Client, realms: Realms, mark: int) -> None:
    out = client.models.generate_content(model=MODEL, contents="say hi")
    assert out.text == FAKE_TEXT
    assert out.usage_metadata is not None and out.usage_metadata.prompt_token_count == 120
    event = realms.wait_one(mark)
    assert_usage(
        event,
        realms,
        model=MODEL,
        endpoint="/v1beta/models/{model}:generateContent",
        stream=False,
    )


def test_generate_content_stream(client: genai.Client, realms: Realms, mark: int) -> None:
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="say hi"))
    assert "".join(c.text or "" for c in chunks) == FAKE_TEXT
    # Gemini sends the final counts only in the last chunk.
    last = chunks[-1].usage_metadata
    assert last is not None and last.thoughts_token_count == 16
    event = realms.wait_one(mark)
    assert_usage(
        event,
        realms,
        model=MODEL,
        endpoint="/v1beta/models/{model}:streamGenerateContent",
        stream=True,
    )


def test_paced_stream_has_only_data_lines(realms: Realms, mark: int) -> None:
    # The fake pauses 1.5 s between events, longer than run.sh's 1 s keepalive interval: any
    # keepalive line Realms sent here would break the SDK's parser.
    paced = make_client(realms, realms.token, {"x-fake-pace-ms": "1500", "x-fake-events": "2"})
    chunks = list(paced.models.generate_content_stream(model=MODEL, contents="say hi"))
    assert "".join(c.text or "" for c in chunks) == "Hello from"
    event = realms.wait_one(mark)
    assert event["is_stream"] is True and event["output_tokens"] == 48


def test_count_tokens(client: genai.Client, realms: Realms, mark: int) -> None:
    out = client.models.count_tokens(model=MODEL, contents="say hi")
    assert out.total_tokens == 120
    event = realms.wait_one(mark)
    assert event["endpoint"] == "/v1beta/models/{model}:countTokens"
    assert event["status_code"] == 200


def test_models_list(client: genai.Client) -> None:
    # only what Gemini's API can reach: the Gemini channel's models
    names = sorted(m.name for m in client.models.list())
    assert names == ["models/gemini-fake"]


def test_wrong_key_is_client_error_401(realms: Realms) -> None:
    bad = make_client(realms, "sk_wrong_key_for_tests")
    with pytest.raises(errors.ClientError) as err:
        bad.models.generate_content(model=MODEL, contents="x")
    assert err.value.code == 401


def test_unknown_model_is_client_error_404(client: genai.Client, realms: Realms, mark: int) -> None:
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model="no-such-model", contents="x")
    assert err.value.code == 404 and err.value.status == "NOT_FOUND"
    event = realms.wait_one(mark)
    assert event["status_code"] == 404 and event["input_tokens"] == 0
