"""LangChain's `ChatOpenAI` (langchain-openai) against `portolan serve`, routed to a fake
OpenAI-format provider: invoke, stream, structured output and tools.

Usage: python3 langchain_test.py <gateway base /v1> <token> <fake openai url>
"""

import sys

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from fake import Checks, Fake

base_url, token, fake_url = sys.argv[1:4]
fake = Fake(fake_url)
check = Checks()
llm = ChatOpenAI(model="gpt-4o-mini", base_url=base_url, api_key=token, max_retries=0)


@check("invoke")
def _():
    fake.push({"reply": "Hello from LangChain"})
    msg = llm.invoke("Hi")
    assert msg.content == "Hello from LangChain", msg
    assert msg.usage_metadata["total_tokens"] > 0, msg.usage_metadata


@check("stream")
def _():
    fake.push({"chunks": ["x", "y", "z"]})
    text = "".join(chunk.content for chunk in llm.stream("xyz"))
    assert text == "xyz", text


@check("with_structured_output (json_schema)")
def _():
    class Person(BaseModel):
        name: str
        age: int

    fake.push({"reply": '{"name": "Ada", "age": 36}'})
    person = llm.with_structured_output(Person).invoke("Ada is 36.")
    assert person == Person(name="Ada", age=36), person


@check("bind_tools")
def _():
    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    fake.push({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}})
    msg = llm.bind_tools([get_weather]).invoke("Weather in Paris?")
    assert msg.tool_calls[0]["name"] == "get_weather", msg
    assert msg.tool_calls[0]["args"] == {"city": "Paris"}, msg.tool_calls


check.done()
