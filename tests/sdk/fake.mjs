// Scripts the fake providers the SDK tests run against (crates/fake-providers' control
// endpoints) and checks what they were sent.
export class Fake {
  constructor(baseURL) {
    this.baseURL = baseURL.replace(/\/$/, "");
  }

  // Queues what the next model requests get: {reply}, {chunks}, {tool_call}, {status}, …
  async push(...behaviours) {
    const r = await fetch(`${this.baseURL}/__fake/push`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(behaviours),
    });
    if (!r.ok) throw new Error(`fake push: ${r.status} ${await r.text()}`);
  }

  // The last model request the fake received: method, path, headers, body.
  async last() {
    const r = await fetch(`${this.baseURL}/__fake/last`);
    return r.json();
  }
}

// Runs named checks in order and prints the total at the end.
export async function checks(list) {
  let passed = 0;
  for (const [name, run] of list) {
    await run();
    passed += 1;
    console.log(`ok  ${name}`);
  }
  console.log(`${passed} checks passed`);
}
