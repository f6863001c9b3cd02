"""The official `openai` Python package against `portolan serve`, as a user would write it.

Usage: python3 openai_sdk_test.py <base_url> <token>
Exits non-zero (with the failing assertion) on any mismatch.
"""

import sys

import openai
from openai import OpenAI
from openai.types.chat import ChatCompletion

base_url, token = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=token, max_retries=0)

# Non-streaming chat.
resp = client.chat.completions.create(
    model="demo/small",
    messages=[{"role": "user", "content": "Hello from the Python SDK"}],
)
assert resp.choices[0].message.content.startswith("[demo:small]"), resp
assert resp.usage.total_tokens > 0, resp.usage

# Streaming chat, with usage requested.
pieces = []
usage = None
with client.chat.completions.create(
    model="demo/fast",
    messages=[{"role": "user", "content": "Stream please"}],
    stream=True,
    stream_options={"include_usage": True},
) as stream:
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
text = "".join(pieces)
assert text.startswith("[demo:fast]"), text
assert usage is not None and usage.completion_tokens > 0, usage

# A prompt called by id/slug through the SDK's generic request method.
completion = client.post(
    "/prompts/summarize/completions",
    body={"variables": {"text": "Portolan keeps prompts on your machine."}, "model": "demo/small"},
    cast_to=ChatCompletion,
)
assert completion.choices[0].message.content.startswith("[demo:small]"), completion

# Errors surface as the SDK's own exceptions.
try:
    client.post("/prompts/support-reply/completions", body={"variables": {}}, cast_to=ChatCompletion)
    raise AssertionError("missing variables should fail")
except openai.BadRequestError as e:
    assert "customer_name" in str(e), e
try:
    OpenAI(base_url=base_url, api_key="pt_wrong", max_retries=0).models.list()
    raise AssertionError("a wrong token should fail")
except openai.AuthenticationError:
    pass

print("python openai SDK: 5 checks passed")
