import { describe, expect, it } from "vitest";
import { EMPTY_CLOUD, PROVIDERS, keyRequest, rotatePlaceholder, validateKeyForm } from "../src/lib/providers";

const form = (provider: string, cloud = EMPTY_CLOUD, secret = "") => ({ name: "k1", provider, baseUrl: "", secret, cloud });

describe("the key form for cloud providers", () => {
  it("offers Bedrock, Vertex AI and Cohere from the registry", () => {
    const ids = PROVIDERS.map((p) => p.id);
    expect(ids).toEqual(expect.arrayContaining(["bedrock", "vertex", "cohere"]));
    expect(PROVIDERS.find((p) => p.id === "bedrock")?.credentials).toBe("aws");
    expect(PROVIDERS.find((p) => p.id === "cohere")?.credentials).toBe("api_key");
  });

  it("asks AWS keys for both halves and a region, and sends them as one JSON secret", () => {
    expect(validateKeyForm(form("bedrock"))).toMatch(/access key id/);
    const partial = { ...EMPTY_CLOUD, accessKeyId: "AKIA1", secretAccessKey: "s" };
    expect(validateKeyForm(form("bedrock", partial))).toMatch(/region/);
    const full = { ...partial, region: "eu-west-3", sessionToken: " tok " };
    expect(validateKeyForm(form("bedrock", full))).toBeNull();
    const req = keyRequest(form("bedrock", full));
    expect(req.region).toBe("eu-west-3");
    expect(JSON.parse(req.secret)).toEqual({ access_key_id: "AKIA1", secret_access_key: "s", session_token: "tok" });
  });

  it("asks Vertex keys for a service account file (chosen or pasted) and a location", () => {
    expect(validateKeyForm(form("vertex"))).toMatch(/service account key file/);
    const user = { ...EMPTY_CLOUD, serviceAccount: '{"type": "authorized_user"}', location: "us-central1" };
    expect(validateKeyForm(form("vertex", user))).toMatch(/not a service account/);
    const chosen = { ...EMPTY_CLOUD, serviceAccountFile: "/home/me/sa.json", location: "" };
    expect(validateKeyForm(form("vertex", chosen))).toMatch(/location/);
    const ok = { ...chosen, location: "global", project: "billing" };
    expect(validateKeyForm(form("vertex", ok))).toBeNull();
    const req = keyRequest(form("vertex", ok));
    // The file's content never passes through the window: the engine reads the path.
    expect(req).toMatchObject({ secret: "", secret_file: "/home/me/sa.json", location: "global", project: "billing" });
  });

  it("keeps API keys as they were", () => {
    expect(validateKeyForm(form("cohere"))).toMatch(/needs a secret/);
    expect(keyRequest(form("cohere", EMPTY_CLOUD, "co-key")).secret).toBe("co-key");
    expect(rotatePlaceholder("openai")).toBe("New secret");
    expect(rotatePlaceholder("bedrock")).toMatch(/access_key_id/);
  });
});
