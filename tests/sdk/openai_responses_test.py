"""The official `openai` Python package's Responses API against `portolan serve`, routed to a
fake OpenAI-format provider: plain, streamed, a function tool round trip, structured output with
`text.format`, continuing with `previous_response_id`, retrieval, and a refused option.

Usage: python3 openai_responses_test.py <gateway base /v1> <token> <fake openai url>
"""

import json
import sys

import openai
from openai import OpenAI
from pydantic import BaseModel

from fake import Checks, Fake

base_url, token, fake_url = sys.argv[1:4]
client = OpenAI(base_url=base_url, api_key=token, max_retries=0)
fake = Fake(fake_url)
check = Checks()
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@check("responses.create, plain, with instructions and metadata")
def _():
    fake.push({"reply": "Paris is the capital of France."})
    r = client.responses.create(
        model="gpt-4o-mini",
        instructions="Answer in one sentence.",
        input="What is the capital of France?",
        metadata={"suite": "sdk"},
    )
    assert r.status == "completed", r
    assert r.output_text == "Paris is the capital of France.", r.output_text
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage
    assert r.metadata == {"suite": "sdk"}, r.metadata
    sent = fake.last()["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Answer in one sentence."}, sent


@check("responses.create(stream=True): the event sequence")
def _():
    fake.push({"chunks": ["Bonjour", ", ", "le ", "monde"]})
    events = list(
        client.responses.create(model="gpt-4o-mini", input="Say hello in French", stream=True)
    )
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Bonjour, le monde", text
    assert events[-1].response.output_text == "Bonjour, le monde"
    assert events[-1].response.usage.output_tokens > 0


@check("responses.stream() helper with a final response")
def _():
    fake.push({"chunks": ["one ", "two"]})
    with client.responses.stream(model="gpt-4o-mini", input="count") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "one two" and final.output_text == "one two", final


@check("a function tool round trip, continued with previous_response_id")
def _():
    fake.push({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}})
    first = client.responses.create(
        model="gpt-4o-mini", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather", first.output
    assert json.loads(call.arguments) == {"city": "Paris"}, call.arguments
    fake.push({"reply": "It is sunny in Paris."})
    second = client.responses.create(
        model="gpt-4o-mini",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}],
    )
    assert second.output_text == "It is sunny in Paris.", second
    sent = fake.last()["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"], sent
    assert sent[1]["tool_calls"][0]["id"] == call.call_id and sent[2]["content"] == "sunny, 21C"
    again = client.responses.retrieve(second.id)
    assert again.id == second.id and again.output_text == "It is sunny in Paris."


@check("a streamed function call")
def _():
    fake.push({"tool_call": {"name": "get_weather", "arguments": {"city": "Rome"}}})
    events = list(
        client.responses.create(
            model="gpt-4o-mini", input="Weather in Rome?", tools=[WEATHER], stream=True
        )
    )
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types, types
    done = [e for e in events if e.type == "response.function_call_arguments.done"][0]
    assert json.loads(done.arguments) == {"city": "Rome"}
    assert events[-1].response.output[0].type == "function_call"


@check("structured output: responses.parse with a Pydantic model (text.format json_schema)")
def _():
    class City(BaseModel):
        city: str
        country: str

    fake.push({"reply": '{"city": "Paris", "country": "France"}'})
    r = client.responses.parse(model="gpt-4o-mini", input="Capital of France?", text_format=City)
    assert r.output_parsed == City(city="Paris", country="France"), r.output_parsed
    fmt = fake.last()["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "City", fmt


@check("an unsupported option is a BadRequestError that names it")
def _():
    try:
        client.responses.create(model="gpt-4o-mini", input="x", background=True)
        raise AssertionError("background should be refused")
    except openai.BadRequestError as e:
        assert "background" in str(e), e


check.done()
