// The official `openai` npm package against `portolan serve`, as a user would write it.
// Usage: node openai_sdk_test.mjs <base_url> <token>
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

const resp = await client.chat.completions.create({
  model: "demo/small",
  messages: [{ role: "user", content: "Hello from the JS SDK" }],
});
assert.ok(resp.choices[0].message.content.startsWith("[demo:small]"), JSON.stringify(resp));
assert.ok(resp.usage.total_tokens > 0);

const stream = await client.chat.completions.create({
  model: "demo/fast",
  messages: [{ role: "user", content: "Stream please" }],
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) text += c.delta?.content ?? "";
}
assert.ok(text.startsWith("[demo:fast]"), text);
assert.ok(usage && usage.completion_tokens > 0);

const completion = await client.post("/prompts/summarize/completions", {
  body: { variables: { text: "Portolan keeps prompts on your machine." }, model: "demo/small" },
});
assert.ok(completion.choices[0].message.content.startsWith("[demo:small]"));

await assert.rejects(
  client.post("/prompts/support-reply/completions", { body: { variables: {} } }),
  (e) => e instanceof OpenAI.BadRequestError && String(e.message).includes("customer_name"),
);
await assert.rejects(
  new OpenAI({ baseURL, apiKey: "pt_wrong", maxRetries: 0 }).models.list(),
  (e) => e instanceof OpenAI.AuthenticationError,
);
console.log("js openai SDK: 5 checks passed");
