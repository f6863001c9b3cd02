// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { Version } from "../../src/lib/api";

function version(n: number, over: Partial<Version> = {}): Version {
  return {
    prompt_id: "pr_1",
    slug: "greet",
    version: n,
    latest_version: n,
    message: null,
    created_at: "2026-12-04T12:00:00Z",
    labels: [],
    draft: {
      description: "Says hello",
      model: "demo/small",
      params_json: "{}",
      variables: [],
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hello {{name}}" },
      ],
    },
    variables_used: ["name"],
    partials: [],
    file_text: "",
    ...over,
  };
}

const api = vi.hoisted(() => ({
  getVersion: vi.fn(),
  listVersions: vi.fn(),
  preview: vi.fn(),
  savePrompt: vi.fn(),
  diffVersions: vi.fn(),
  setLabel: vi.fn(),
  versionEvals: vi.fn(),
  listEvals: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { PromptEditor } = await import("../../src/screens/prompts/PromptEditor");

beforeEach(() => {
  vi.clearAllMocks();
  api.getVersion.mockImplementation((_slug: string, v: number | null) => Promise.resolve(version(v ?? 1)));
  api.listVersions.mockResolvedValue([version(1)]);
  api.versionEvals.mockResolvedValue([]);
  api.listEvals.mockResolvedValue([]);
  api.preview.mockImplementation((_slug, draft: Version["draft"], vars: Record<string, unknown>) =>
    Promise.resolve({
      messages: draft.messages.map((m) => ({ role: m.role, content: m.content.replace("{{name}}", String(vars.name ?? "")) })),
      variables_used: ["name"],
    }),
  );
});

describe("PromptEditor", () => {
  it("loads the latest version, previews it with the variables form, and marks edits unsaved", async () => {
    render(<PromptEditor slug="greet" onSaved={() => undefined} />);
    expect(await screen.findByText("greet")).toBeTruthy();
    expect(screen.queryByText(/unsaved/)).toBeNull();
    fireEvent.change(screen.getByPlaceholderText("What this prompt does"), { target: { value: "Greets people" } });
    expect(screen.getByText(/unsaved/)).toBeTruthy();
    const name = await screen.findByLabelText(/name/, { selector: "input,textarea" });
    fireEvent.change(name, { target: { value: "Ada" } });
    await waitFor(() => expect(screen.getByText("Hello Ada")).toBeTruthy(), { timeout: 2000 });
  });

  it("saves a new version with the commit message and says so", async () => {
    const onSaved = vi.fn();
    api.savePrompt.mockResolvedValue({ prompt_id: "pr_1", slug: "greet", version: 2, created: true });
    render(<PromptEditor slug="greet" onSaved={onSaved} />);
    await screen.findByText("greet");
    fireEvent.change(screen.getByPlaceholderText("What this prompt does"), { target: { value: "Greets people" } });
    fireEvent.change(screen.getByTestId("commit-message"), { target: { value: "Say what it does" } });
    fireEvent.click(screen.getByTestId("save-version"));
    await waitFor(() => expect(screen.getByTestId("save-status").textContent).toBe("Saved version 2"));
    const [slug, draft, message] = api.savePrompt.mock.calls[0];
    expect([slug, draft.description, message]).toEqual(["greet", "Greets people", "Say what it does"]);
    expect(onSaved).toHaveBeenCalled();
    expect((screen.getByTestId("commit-message") as HTMLInputElement).value).toBe("");
  });

  it("shows why a save was refused and keeps the draft", async () => {
    api.savePrompt.mockRejectedValue({ kind: "template_syntax", message: "template syntax error in message 2 (user) at line 1, column 7: '{{#if}}' is never closed" });
    render(<PromptEditor slug="greet" onSaved={() => undefined} />);
    await screen.findByText("greet");
    fireEvent.change(screen.getByPlaceholderText("What this prompt does"), { target: { value: "Broken" } });
    fireEvent.click(screen.getByTestId("save-version"));
    await waitFor(() => expect(screen.getByTestId("save-status").textContent).toContain("never closed"));
    expect((screen.getByPlaceholderText("What this prompt does") as HTMLInputElement).value).toBe("Broken");
    expect(screen.getByText(/unsaved/)).toBeTruthy();
  });
});
