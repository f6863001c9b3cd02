"""The `portkey-ai` Python package against `portolan serve`, written as Portkey's documentation
writes it: the gateway token as Portkey's api_key, a virtual key, trace ids and metadata, a
fallback config, prompts by id (completions plain and streamed, render) and feedback.

Usage: python3 portkey_sdk_test.py <gateway base /v1> <token> <fake openai url>
"""

import sys

from portkey_ai import Portkey

from fake import Checks, Fake

base_url, token, fake_url = sys.argv[1:4]
fake = Fake(fake_url)
check = Checks()
portkey = Portkey(api_key=token, base_url=base_url, virtual_key="openai")
# The sample prompt `summarize` has this id on every machine (prompts/portolan.toml).
SUMMARIZE = "pr_j8fz0krpe8sa"


@check("chat with a virtual key, a trace id and metadata")
def _():
    fake.push({"reply": "Hi from the fake"})
    client = portkey.with_options(trace_id="sdk-trace-1", metadata={"_user": "ada", "team": "sdk"})
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    assert r.choices[0].message.content == "Hi from the fake", r
    last = fake.last()
    # The upstream got the virtual key's secret, not the gateway token or a placeholder.
    assert last["headers"]["authorization"] == "Bearer sk-fake-openai-key", last["headers"]


@check("streamed chat")
def _():
    fake.push({"chunks": ["a", "b", "c"]})
    stream = portkey.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "abc"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "abc", text


@check("a fallback config: the first target fails, the second answers")
def _():
    fake.push({"status": 503, "message": "overloaded"}, {"reply": "from the fallback"})
    client = Portkey(
        api_key=token,
        base_url=base_url,
        config={
            "strategy": {"mode": "fallback"},
            "retry": {"attempts": 0},
            "targets": [
                {"virtual_key": "openai", "override_params": {"model": "gpt-4o"}},
                {"virtual_key": "openai", "override_params": {"model": "gpt-4o-mini"}},
            ],
        },
    )
    r = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert r.choices[0].message.content == "from the fallback", r
    assert fake.last()["body"]["model"] == "gpt-4o-mini"


@check("prompts.completions.create by id, with variables")
def _():
    fake.push({"reply": "- Rust is fast."})
    r = portkey.prompts.completions.create(
        prompt_id=SUMMARIZE, variables={"text": "Rust is fast.", "bullets": 1}
    )
    assert r.choices[0].message.content == "- Rust is fast.", r
    sent = fake.last()["body"]
    assert "Write exactly 1 bullet point" in sent["messages"][0]["content"], sent


@check("prompts.completions.create streamed")
def _():
    fake.push({"chunks": ["- one", " point"]})
    stream = portkey.prompts.completions.create(
        prompt_id=SUMMARIZE, variables={"text": "One point."}, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "- one point", text


@check("prompts.render")
def _():
    r = portkey.prompts.render(prompt_id=SUMMARIZE, variables={"text": "Short.", "bullets": 2})
    assert r.success, r
    assert "Write exactly 2 bullet points" in r.data.messages[0]["content"], r.data


@check("feedback on a traced call")
def _():
    fake.push({"reply": "rated"})
    portkey.with_options(trace_id="sdk-trace-2").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "rate me"}]
    )
    fb = portkey.feedback.create(trace_id="sdk-trace-2", value=1)
    assert fb.status == "success", fb


check.done()
