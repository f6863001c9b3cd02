// The official `openai` npm package's Responses API against `portolan serve`, routed to a fake
// OpenAI-format provider: plain, streamed, a function tool round trip with previous_response_id,
// text.format, retrieval and a refused option.
// Usage: node openai_responses_test.mjs <gateway base /v1> <token> <fake openai url>
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Fake, checks } from "./fake.mjs";

const [baseURL, apiKey, fakeURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const fake = new Fake(fakeURL);
const weather = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

await checks([
  [
    "responses.create, plain",
    async () => {
      await fake.push({ reply: "Paris." });
      const r = await client.responses.create({ model: "gpt-4o-mini", input: "Capital of France?" });
      assert.equal(r.status, "completed");
      assert.equal(r.output_text, "Paris.");
      assert.ok(r.usage.input_tokens > 0);
    },
  ],
  [
    "responses.create({stream: true})",
    async () => {
      await fake.push({ chunks: ["Hel", "lo"] });
      const stream = await client.responses.create({ model: "gpt-4o-mini", input: "hi", stream: true });
      const types = [];
      let text = "";
      let final = null;
      for await (const e of stream) {
        types.push(e.type);
        if (e.type === "response.output_text.delta") text += e.delta;
        if (e.type === "response.completed") final = e.response;
      }
      assert.deepEqual(types.slice(0, 2), ["response.created", "response.in_progress"]);
      assert.equal(types.at(-1), "response.completed");
      assert.equal(text, "Hello");
      assert.ok(final.usage.output_tokens > 0);
    },
  ],
  [
    "a function tool round trip with previous_response_id",
    async () => {
      await fake.push({ tool_call: { name: "get_weather", arguments: { city: "Paris" } } });
      const first = await client.responses.create({
        model: "gpt-4o-mini",
        input: "Weather in Paris?",
        tools: [weather],
      });
      const call = first.output[0];
      assert.equal(call.type, "function_call");
      assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
      await fake.push({ reply: "Sunny in Paris." });
      const second = await client.responses.create({
        model: "gpt-4o-mini",
        previous_response_id: first.id,
        tools: [weather],
        input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }],
      });
      assert.equal(second.output_text, "Sunny in Paris.");
      const roles = (await fake.last()).body.messages.map((m) => m.role);
      assert.deepEqual(roles, ["user", "assistant", "tool"]);
      const again = await client.responses.retrieve(second.id);
      assert.equal(again.output_text, "Sunny in Paris.");
    },
  ],
  [
    "text.format json_schema",
    async () => {
      await fake.push({ reply: '{"city":"Rome"}' });
      const r = await client.responses.create({
        model: "gpt-4o-mini",
        input: "Capital of Italy?",
        text: {
          format: {
            type: "json_schema",
            name: "city",
            schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
            strict: true,
          },
        },
      });
      assert.deepEqual(JSON.parse(r.output_text), { city: "Rome" });
      assert.equal((await fake.last()).body.response_format.json_schema.name, "city");
    },
  ],
  [
    "an unsupported option is a BadRequestError naming it",
    async () => {
      await assert.rejects(
        client.responses.create({ model: "gpt-4o-mini", input: "x", background: true }),
        (e) => e instanceof OpenAI.BadRequestError && /background/.test(e.message),
      );
    },
  ],
]);
