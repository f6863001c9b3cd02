// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { DatasetDto } from "../../src/bindings/DatasetDto";
import type { DatasetSummary } from "../../src/bindings/DatasetSummary";
import type { Row } from "../../src/bindings/Row";

const qaRows: Row[] = [
  { vars: { question: "2+2", n: 4 }, expected: "4", tags: ["math"] },
  { vars: { question: "capital of France" }, expected: "Paris" },
];

const summaries: DatasetSummary[] = [
  { id: "ds_1", name: "qa", description: null, latest_version: 2, rows: 2, updated_at: "2026-12-04T12:00:00Z" },
  { id: "ds_2", name: "tickets", description: "support", latest_version: 1, rows: 5, updated_at: "2026-12-04T12:00:00Z" },
];

function dto(version: number, rows: Row[], latest = 2): DatasetDto {
  return { dataset: { dataset_id: "ds_1", name: "qa", version, message: null, created_at: "2026-12-04T12:00:00Z", rows }, latest_version: latest };
}

const api = vi.hoisted(() => ({
  listDatasets: vi.fn(),
  getDataset: vi.fn(),
  saveDataset: vi.fn(),
  pickFile: vi.fn(),
  readDatasetFile: vi.fn(),
  exportDataset: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { DatasetsScreen } = await import("../../src/screens/datasets/DatasetsScreen");

beforeEach(() => {
  vi.clearAllMocks();
  api.listDatasets.mockResolvedValue(summaries);
  api.getDataset.mockImplementation((_name: string, version: number | null) =>
    Promise.resolve(version === 1 ? dto(1, [qaRows[0]]) : dto(2, qaRows)),
  );
});

const input = (id: string) => screen.getByTestId(id) as HTMLInputElement;
const type = (id: string, value: string) => {
  fireEvent.change(screen.getByTestId(id), { target: { value } });
  fireEvent.blur(screen.getByTestId(id));
};

async function openQa() {
  render(<DatasetsScreen />);
  fireEvent.click(await screen.findByTestId("dataset-item-qa"));
  await screen.findByTestId("dataset-row-1");
}

describe("DatasetsScreen", () => {
  it("lists datasets and opens one as a table of variables, expected and tags", async () => {
    await openQa();
    expect(screen.getByTestId("datasets-list").textContent).toContain("tickets");
    expect(screen.getByTestId("dataset-item-qa").textContent).toContain("v2");
    expect(api.getDataset).toHaveBeenCalledWith("qa", null);
    expect(input("dataset-cell-0-question").value).toBe("2+2");
    expect(input("dataset-cell-0-n").value).toBe("4");
    expect(input("dataset-cell-1-n").value).toBe("");
    expect(input("dataset-cell-1-expected").value).toBe("Paris");
    expect(input("dataset-cell-0-tags").value).toBe("math");
    expect(screen.queryByTestId("dataset-modified")).toBeNull();
  });

  it("edits a cell, adds a row and saves the rows as the next version", async () => {
    api.saveDataset.mockResolvedValue({ name: "qa", version: 3, rows: 3, created: true });
    await openQa();
    type("dataset-cell-0-question", "2+3");
    type("dataset-cell-0-n", "5");
    type("dataset-cell-0-expected", "5");
    expect(screen.getByTestId("dataset-modified").textContent).toContain("modified");
    fireEvent.click(screen.getByTestId("dataset-add-row"));
    await screen.findByTestId("dataset-row-2");
    type("dataset-cell-2-question", "largest ocean");
    type("dataset-cell-2-expected", "Pacific");
    fireEvent.change(screen.getByTestId("dataset-cell-2-tags"), { target: { value: "geo, hard" } });
    fireEvent.change(screen.getByTestId("dataset-save-message"), { target: { value: "Add an ocean" } });
    fireEvent.click(screen.getByTestId("dataset-save"));

    await waitFor(() => expect(screen.getByTestId("dataset-status").textContent).toBe("qa version 3 saved (3 rows)"));
    expect(api.saveDataset).toHaveBeenCalledTimes(1);
    const [name, rows, message] = api.saveDataset.mock.calls[0];
    expect(name).toBe("qa");
    expect(message).toBe("Add an ocean");
    expect(rows).toEqual([
      { vars: { question: "2+3", n: 5 }, expected: "5", tags: ["math"] },
      { vars: { question: "capital of France" }, expected: "Paris" },
      { vars: { question: "largest ocean" }, expected: "Pacific", tags: ["geo", "hard"] },
    ]);
    expect(screen.queryByTestId("dataset-modified")).toBeNull();
    expect(input("dataset-save-message").value).toBe("");
  });

  it("fills an image variable's cell with a file chosen in the dialog", async () => {
    api.saveDataset.mockResolvedValue({ name: "qa", version: 3, rows: 2, created: true });
    api.pickFile.mockResolvedValue("/photos/sky.png");
    await openQa();
    fireEvent.click(screen.getByLabelText("Row 1 question: choose an image file"));
    await waitFor(() => expect(input("dataset-cell-0-question").value).toBe("/photos/sky.png"));
    expect(api.pickFile).toHaveBeenCalledWith(false, null, "image");
    fireEvent.click(screen.getByTestId("dataset-save"));
    await waitFor(() => expect(api.saveDataset).toHaveBeenCalled());
    expect(api.saveDataset.mock.calls[0][1][0].vars.question).toBe("/photos/sky.png");
  });

  it("says when a save changed nothing", async () => {
    api.saveDataset.mockResolvedValue({ name: "qa", version: 2, rows: 2, created: false });
    await openQa();
    fireEvent.click(screen.getByTestId("dataset-save"));
    await waitFor(() => expect(screen.getByTestId("dataset-status").textContent).toBe("qa unchanged: same rows as version 2"));
    expect(api.saveDataset.mock.calls[0]).toEqual(["qa", qaRows, null]);
  });

  it("marks invalid JSON and does not save it", async () => {
    await openQa();
    type("dataset-cell-0-n", "{five");
    expect(input("dataset-cell-0-n").getAttribute("aria-invalid")).toBe("true");
    fireEvent.click(screen.getByTestId("dataset-save"));
    expect(screen.getByTestId("dataset-status").getAttribute("role")).toBe("alert");
    expect(screen.getByTestId("dataset-status").textContent).toMatch(/^Fix the invalid JSON before saving: row 1, “n”: not valid JSON/);
    expect(api.saveDataset).not.toHaveBeenCalled();
  });

  it("imports a file as a new dataset, validating its name, and saves it", async () => {
    const fileRows: Row[] = [{ vars: { ticket: "My order is late" }, expected: "apology" }];
    api.pickFile.mockResolvedValue("/tmp/tickets.jsonl");
    api.readDatasetFile.mockResolvedValue(fileRows);
    api.saveDataset.mockResolvedValue({ name: "late-orders", version: 1, rows: 1, created: true });
    render(<DatasetsScreen />);
    await screen.findByTestId("dataset-item-qa");
    fireEvent.click(screen.getByTestId("dataset-import"));
    await screen.findByTestId("dataset-import-confirm");
    expect(api.pickFile).toHaveBeenCalledWith(false, null);
    expect(api.readDatasetFile).toHaveBeenCalledWith("/tmp/tickets.jsonl");

    fireEvent.change(screen.getByTestId("dataset-import-name"), { target: { value: "Late Orders" } });
    fireEvent.click(screen.getByTestId("dataset-import-confirm"));
    expect(screen.getByText(/Dataset names use 1-64 characters/)).toBeTruthy();
    fireEvent.change(screen.getByTestId("dataset-import-name"), { target: { value: "qa" } });
    fireEvent.click(screen.getByTestId("dataset-import-confirm"));
    expect(screen.getByText(/A dataset named “qa” already exists/)).toBeTruthy();
    fireEvent.change(screen.getByTestId("dataset-import-name"), { target: { value: "late-orders" } });
    fireEvent.click(screen.getByTestId("dataset-import-confirm"));

    expect(input("dataset-cell-0-ticket").value).toBe("My order is late");
    expect(screen.getByTestId("dataset-modified").textContent).toContain("new");
    fireEvent.click(screen.getByTestId("dataset-save"));
    await waitFor(() => expect(screen.getByTestId("dataset-status").textContent).toBe("late-orders version 1 saved (1 row)"));
    expect(api.saveDataset).toHaveBeenCalledWith("late-orders", fileRows, null);
  });

  it("imports into the open dataset after its rows, and shows file errors verbatim", async () => {
    api.pickFile.mockResolvedValue("/data/rows.csv");
    api.readDatasetFile.mockRejectedValueOnce({ kind: "dataset", message: "/data/rows.csv:3: this row has 3 fields but the header has 2" });
    await openQa();
    fireEvent.click(screen.getByTestId("dataset-import"));
    await waitFor(() =>
      expect(screen.getByTestId("dataset-status").textContent).toBe("/data/rows.csv:3: this row has 3 fields but the header has 2"),
    );

    api.readDatasetFile.mockResolvedValueOnce([{ vars: { question: "1+1" }, expected: 2 }]);
    fireEvent.click(screen.getByTestId("dataset-import"));
    fireEvent.click(await screen.findByTestId("dataset-import-confirm"));
    expect(input("dataset-cell-2-question").value).toBe("1+1");
    expect(input("dataset-cell-2-expected").value).toBe("2");
    expect(screen.getByTestId("dataset-status").textContent).toContain("1 row appended");
    expect(screen.getByTestId("dataset-modified")).toBeTruthy();
  });

  it("opens an older version read-only with a way back, and exports the version shown", async () => {
    api.pickFile.mockResolvedValue("/tmp/qa.jsonl");
    api.exportDataset.mockResolvedValue(1);
    await openQa();
    fireEvent.change(screen.getByTestId("dataset-version-select"), { target: { value: "1" } });
    await waitFor(() => expect(screen.queryByTestId("dataset-row-1")).toBeNull());
    expect(api.getDataset).toHaveBeenLastCalledWith("qa", 1);
    expect(input("dataset-cell-0-question").readOnly).toBe(true);
    expect(screen.queryByTestId("dataset-save")).toBeNull();
    expect(screen.queryByTestId("dataset-add-row")).toBeNull();

    fireEvent.click(screen.getByTestId("dataset-export"));
    await waitFor(() => expect(screen.getByTestId("dataset-status").textContent).toBe("1 row written to /tmp/qa.jsonl"));
    expect(api.pickFile).toHaveBeenCalledWith(true, "qa.jsonl");
    expect(api.exportDataset).toHaveBeenCalledWith("qa", 1, "/tmp/qa.jsonl");

    fireEvent.click(screen.getByTestId("dataset-open-latest"));
    await screen.findByTestId("dataset-row-1");
    expect(input("dataset-cell-0-question").readOnly).toBe(false);
  });

  it("creates a new dataset and asks before dropping unsaved changes", async () => {
    await openQa();
    type("dataset-cell-0-question", "changed");
    fireEvent.click(screen.getByTestId("dataset-new"));
    fireEvent.change(screen.getByTestId("dataset-new-name"), { target: { value: "fresh" } });
    fireEvent.click(screen.getByTestId("dataset-create"));
    expect(screen.getByText(/qa has unsaved changes/)).toBeTruthy();
    expect(input("dataset-cell-0-question").value).toBe("changed");
    fireEvent.click(screen.getByTestId("dataset-discard"));
    expect(screen.queryByTestId("dataset-row-0")).toBeNull();
    expect(screen.getByTestId("dataset-modified").textContent).toContain("new");
    fireEvent.click(screen.getByTestId("dataset-add-row"));
    expect(screen.getByTestId("dataset-row-0")).toBeTruthy();
    fireEvent.change(screen.getByTestId("dataset-cell-0-expected"), { target: { value: "hello" } });

    // Made meanwhile under the same name (elsewhere): not saved over it.
    api.listDatasets.mockResolvedValueOnce([...summaries, { ...summaries[0], id: "ds_3", name: "fresh" }]);
    fireEvent.click(screen.getByTestId("dataset-save"));
    await waitFor(() => expect(screen.getByTestId("dataset-status").textContent).toContain("A dataset named “fresh” already exists"));
    expect(api.saveDataset).not.toHaveBeenCalled();

    api.saveDataset.mockResolvedValue({ name: "fresh", version: 1, rows: 1, created: true });
    fireEvent.click(screen.getByTestId("dataset-save"));
    await waitFor(() => expect(api.saveDataset).toHaveBeenCalledWith("fresh", [{ vars: {}, expected: "hello" }], null));
  });
});
