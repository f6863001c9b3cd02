// The `portkey-ai` npm package against `portolan serve`, as Portkey's documentation writes it:
// the gateway token as Portkey's apiKey, a virtual key, a trace id and metadata, a fallback
// config, prompts by id (completions plain and streamed, render) and feedback.
// Usage: node portkey_sdk_test.mjs <gateway base /v1> <token> <fake openai url>
import assert from "node:assert/strict";
import { Portkey } from "portkey-ai";
import { Fake, checks } from "./fake.mjs";

const [baseURL, apiKey, fakeURL] = process.argv.slice(2);
const fake = new Fake(fakeURL);
const portkey = new Portkey({ apiKey, baseURL, virtualKey: "openai" });
// The sample prompt `summarize` has this id on every machine (prompts/portolan.toml).
const SUMMARIZE = "pr_j8fz0krpe8sa";

await checks([
  [
    "chat with a virtual key, a trace id and metadata",
    async () => {
      await fake.push({ reply: "Hi from the fake" });
      const r = await portkey.chat.completions.create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] },
        { traceID: "node-trace-1", metadata: { team: "sdk" } },
      );
      assert.equal(r.choices[0].message.content, "Hi from the fake");
      assert.equal((await fake.last()).headers.authorization, "Bearer sk-fake-openai-key");
    },
  ],
  [
    "a fallback config",
    async () => {
      await fake.push({ status: 503, message: "overloaded" }, { reply: "from the fallback" });
      const client = new Portkey({
        apiKey,
        baseURL,
        config: {
          strategy: { mode: "fallback" },
          retry: { attempts: 0 },
          targets: [
            { virtual_key: "openai", override_params: { model: "gpt-4o" } },
            { virtual_key: "openai", override_params: { model: "gpt-4o-mini" } },
          ],
        },
      });
      const r = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
      assert.equal(r.choices[0].message.content, "from the fallback");
    },
  ],
  [
    "prompts.completions.create by id",
    async () => {
      await fake.push({ reply: "- short" });
      const r = await portkey.prompts.completions.create({
        promptID: SUMMARIZE,
        variables: { text: "Rust is fast.", bullets: 1 },
      });
      assert.equal(r.choices[0].message.content, "- short");
    },
  ],
  [
    "prompts.completions.create streamed",
    async () => {
      await fake.push({ chunks: ["- a", " b"] });
      const stream = await portkey.prompts.completions.create({
        promptID: SUMMARIZE,
        variables: { text: "ab" },
        stream: true,
      });
      let text = "";
      for await (const c of stream) text += c.choices?.[0]?.delta?.content ?? "";
      assert.equal(text, "- a b");
    },
  ],
  [
    "prompts.render",
    async () => {
      const r = await portkey.prompts.render({ promptID: SUMMARIZE, variables: { text: "x", bullets: 2 } });
      assert.ok(r.success);
      assert.match(r.data.messages[0].content, /Write exactly 2 bullet points/);
    },
  ],
  [
    "feedback on a traced call",
    async () => {
      await fake.push({ reply: "rated" });
      await portkey.chat.completions.create(
        { model: "gpt-4o-mini", messages: [{ role: "user", content: "rate me" }] },
        { traceID: "node-trace-2" },
      );
      const fb = await portkey.feedback.create({ traceID: "node-trace-2", value: 1 });
      assert.equal(fb.status, "success");
    },
  ],
]);
