"""The official `anthropic` Python package against `portolan serve`'s Messages API, routed to a
fake OpenAI-format provider (`gpt-4o-mini`) and a fake Anthropic-format one
(`claude-sonnet-4-5`): plain, streamed, tools, count_tokens and errors.

Usage: python3 anthropic_sdk_test.py <gateway root> <token> <fake openai url> <fake anthropic url>
"""

import sys

import anthropic
from anthropic import Anthropic

from fake import Checks, Fake

root, token, openai_url, anthropic_url = sys.argv[1:5]
client = Anthropic(base_url=root, api_key=token, max_retries=0)
upstreams = {"gpt-4o-mini": Fake(openai_url), "claude-sonnet-4-5": Fake(anthropic_url)}
check = Checks()
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

for model, fake in upstreams.items():

    @check(f"messages.create to {model}")
    def _():
        fake.push({"reply": "Hello from upstream"})
        m = client.messages.create(
            model=model,
            max_tokens=64,
            system="Be brief.",
            messages=[{"role": "user", "content": "Hello"}],
        )
        assert m.type == "message" and m.role == "assistant", m
        assert m.content[0].text == "Hello from upstream", m.content
        assert m.stop_reason == "end_turn" and m.usage.output_tokens > 0, m
        last = fake.last()
        if model.startswith("claude"):
            assert last["path"] == "/v1/messages" and last["body"]["system"] == "Be brief.", last
        else:
            assert last["body"]["messages"][0] == {"role": "system", "content": "Be brief."}, last

    @check(f"messages.stream to {model}")
    def _():
        fake.push({"chunks": ["Bon", "jour", " à", " vous"]})
        with client.messages.stream(
            model=model, max_tokens=64, messages=[{"role": "user", "content": "Greet me"}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text == "Bonjour à vous", text
        assert final.content[0].text == "Bonjour à vous" and final.stop_reason == "end_turn"
        assert final.usage.output_tokens > 0, final.usage

    @check(f"a tool round trip through {model}")
    def _():
        fake.push({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}})
        question = {"role": "user", "content": "Weather in Paris?"}
        m = client.messages.create(model=model, max_tokens=64, tools=[WEATHER], messages=[question])
        assert m.stop_reason == "tool_use", m
        use = [b for b in m.content if b.type == "tool_use"][0]
        assert use.name == "get_weather" and use.input == {"city": "Paris"}, use
        fake.push({"reply": "Sunny."})
        m2 = client.messages.create(
            model=model,
            max_tokens=64,
            tools=[WEATHER],
            messages=[
                question,
                {"role": "assistant", "content": m.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
            ],
        )
        assert m2.content[0].text == "Sunny.", m2


@check("a streamed tool call")
def _():
    fake = upstreams["gpt-4o-mini"]
    fake.push({"tool_call": {"name": "get_weather", "arguments": {"city": "Rome"}}})
    with client.messages.stream(
        model="gpt-4o-mini", max_tokens=64, tools=[WEATHER], messages=[{"role": "user", "content": "Rome?"}]
    ) as stream:
        final = stream.get_final_message()
    use = [b for b in final.content if b.type == "tool_use"][0]
    assert use.input == {"city": "Rome"} and final.stop_reason == "tool_use", final


@check("messages.count_tokens")
def _():
    n = client.messages.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "How many tokens is this?"}]
    )
    assert n.input_tokens > 3, n


@check("errors are the SDK's own exceptions")
def _():
    try:
        Anthropic(base_url=root, api_key="pt_wrong", max_retries=0).messages.create(
            model="gpt-4o-mini", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("a wrong token should fail")
    except anthropic.AuthenticationError:
        pass
    upstreams["gpt-4o-mini"].push({"rate_limited": 120})
    try:
        client.messages.create(model="gpt-4o-mini", max_tokens=8, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("the upstream's 429 should surface")
    except anthropic.RateLimitError:
        pass


check.done()
