// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { Version } from "../../src/lib/api";
import { imageLines } from "../../src/lib/tools";

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
        { role: "system", content: "Be brief.", tool_calls: [], tool_call_id: null },
        { role: "user", content: "Hello {{name}}", tool_calls: [], tool_call_id: null },
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
  checkParams: vi.fn(),
  pickFile: vi.fn(),
  imageDataUrl: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { PromptEditor } = await import("../../src/screens/prompts/PromptEditor");

beforeEach(() => {
  vi.clearAllMocks();
  api.getVersion.mockImplementation((_slug: string, v: number | null) => Promise.resolve(version(v ?? 1)));
  api.listVersions.mockResolvedValue([version(1)]);
  api.versionEvals.mockResolvedValue([]);
  api.listEvals.mockResolvedValue([]);
  api.checkParams.mockResolvedValue(null);
  api.preview.mockImplementation((_slug, draft: Version["draft"], vars: Record<string, unknown>) =>
    Promise.resolve({
      messages: draft.messages.map((m) => ({ ...m, content: m.content.replace("{{name}}", String(vars.name ?? "")) })),
      // As the engine: a user message's template image lines are images.
      image_lines: draft.messages.map((m) => (m.role === "user" ? imageLines(m.content).map((x) => x.line) : [])),
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

  it("edits tools as forms, checks their schemas as typed, and saves tool-call examples", async () => {
    api.savePrompt.mockResolvedValue({ prompt_id: "pr_1", slug: "greet", version: 2, created: true });
    render(<PromptEditor slug="greet" onSaved={() => undefined} />);
    await screen.findByText("greet");
    fireEvent.click(screen.getByTestId("add-tool"));
    fireEvent.change(screen.getByLabelText("Tool 1 name"), { target: { value: "get_weather" } });
    // A schema that is not JSON is flagged at once; the engine's sentence names the place.
    fireEvent.change(screen.getByTestId("tool-schema-0"), { target: { value: '{"type": "object", "properties": {"city": {"type": "strng"}}' } });
    expect(await screen.findByText(/Not JSON/)).toBeTruthy();
    api.checkParams.mockRejectedValue({ kind: "invalid_schema", message: "tools[0].function.parameters at /properties/city/type: not a valid JSON Schema" });
    fireEvent.change(screen.getByTestId("tool-schema-0"), { target: { value: '{"type": "object", "properties": {"city": {"type": "strng"}}}' } });
    expect(await screen.findByTestId("tools-error", {}, { timeout: 2000 })).toBeTruthy();
    expect(screen.getByTestId("tools-error").textContent).toContain("/properties/city/type");
    api.checkParams.mockResolvedValue(null);
    fireEvent.change(screen.getByTestId("tool-schema-0"), { target: { value: '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}' } });
    await waitFor(() => expect(screen.queryByTestId("tools-error")).toBeNull(), { timeout: 2000 });
    fireEvent.click(screen.getByText("Preview arguments form"));
    expect(screen.getByTestId("tool-args-preview-0").textContent).toContain("city *");
    // An assistant message calling the tool, and the tool's result.
    fireEvent.change(screen.getByLabelText("Role of message 2"), { target: { value: "assistant" } });
    fireEvent.click(screen.getByText("Add tool call"));
    fireEvent.change(screen.getByLabelText("Message 2 call 1 arguments"), { target: { value: '{"city": "{{name}}"}' } });
    fireEvent.click(screen.getByText("Add message"));
    fireEvent.change(screen.getByLabelText("Role of message 3"), { target: { value: "tool" } });
    fireEvent.change(screen.getByLabelText("Message 3 answers call"), { target: { value: "call_2_1" } });
    fireEvent.click(screen.getByTestId("save-version"));
    await waitFor(() => expect(api.savePrompt).toHaveBeenCalled());
    const draft = api.savePrompt.mock.calls[0][1] as Version["draft"];
    const params = JSON.parse(draft.params_json);
    expect(params.tools[0].function).toEqual({
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    expect(draft.messages[1]).toMatchObject({ role: "assistant", tool_calls: [{ id: "call_2_1", name: "get_weather", arguments: '{"city": "{{name}}"}' }] });
    expect(draft.messages[2]).toMatchObject({ role: "tool", tool_call_id: "call_2_1", tool_calls: [] });
  });

  it("embeds images dropped on a message or chosen in the file dialog, shows and removes them", async () => {
    render(<PromptEditor slug="greet" onSaved={() => undefined} />);
    await screen.findByText("greet");
    const message = screen.getByTestId("message-1");
    // A dropped PNG becomes an image line with its thumbnail.
    const png = new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], "dot.png", { type: "image/png" });
    // Dropped on the text itself: the message attaches it; the editor does not paste its bytes.
    const text = screen.getByTestId("message-editor-1").querySelector(".cm-content");
    expect(text).toBeTruthy();
    fireEvent.drop(text!, { dataTransfer: { files: [png], types: ["Files"] } });
    const strip = screen.getByTestId("message-images-1");
    await waitFor(() => expect(strip.querySelector("img")?.getAttribute("alt")).toBe("dot.png"));
    expect(strip.querySelector("img")?.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
    // The system message takes no images: providers take images from the user only.
    expect(screen.queryByTestId("message-images-0")).toBeNull();
    fireEvent.drop(screen.getByTestId("message-0"), { dataTransfer: { files: [png], types: ["Files"] } });
    expect(await screen.findByText(/Images go in user messages/)).toBeTruthy();
    // Something that is not an image is refused with the reason; nothing is added.
    const svg = new File(["<svg/>"], "logo.svg", { type: "image/svg+xml" });
    fireEvent.drop(message, { dataTransfer: { files: [svg], types: ["Files"] } });
    expect(await screen.findByText(/logo.svg is not a PNG, JPEG, GIF or WebP image/)).toBeTruthy();
    expect(strip.querySelectorAll("img")).toHaveLength(1);
    // The dialog: the engine reads the file (and would refuse one over 5 MB).
    api.pickFile.mockResolvedValue("/photos/sky.jpg");
    const jpeg = `data:image/jpeg;base64,/9j/${"A".repeat(200)}`;
    api.imageDataUrl.mockResolvedValue(jpeg);
    fireEvent.click(screen.getByTestId("add-image-1"));
    await waitFor(() => expect(strip.querySelectorAll("img")).toHaveLength(2));
    expect(api.imageDataUrl).toHaveBeenCalledWith("/photos/sky.jpg");
    // The editor folds the image data into a label; the preview shows the image.
    await waitFor(() => expect(screen.getByTestId("message-editor-1").querySelector(".cm-data-url")?.textContent).toBe("⟨image/jpeg, 153 B embedded⟩"));
    await waitFor(() => expect(screen.getAllByTestId("preview-image").length).toBeGreaterThan(0), { timeout: 2000 });
    fireEvent.click(screen.getByLabelText("Remove image dot.png"));
    await waitFor(() => expect(strip.querySelectorAll("img")).toHaveLength(1));
    // Saved as Markdown image lines in the message text.
    api.savePrompt.mockResolvedValue({ prompt_id: "pr_1", slug: "greet", version: 2, created: true });
    fireEvent.click(screen.getByTestId("save-version"));
    await waitFor(() => expect(api.savePrompt).toHaveBeenCalled());
    const draft = api.savePrompt.mock.calls[0][1] as Version["draft"];
    expect(draft.messages[1].content).toBe(`Hello {{name}}\n![sky.jpg](${jpeg})`);
  });
});
