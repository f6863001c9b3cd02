import type { ToolCallTemplate } from "../../bindings/ToolCallTemplate";
import { api, toAppError } from "../../lib/api";
import { appendImage, describeImageUrl, imageFileProblem, imageLines, removeImage } from "../../lib/tools";

/** An assistant message's tool calls (few-shot examples): id, function, arguments template. */
export function ToolCallsEditor({
  index,
  calls,
  toolNames,
  onChange,
}: {
  index: number;
  calls: ToolCallTemplate[];
  toolNames: string[];
  onChange: (calls: ToolCallTemplate[]) => void;
}) {
  const set = (i: number, patch: Partial<ToolCallTemplate>) => onChange(calls.map((c, j) => (j === i ? { ...c, ...patch } : c)));
  return (
    <div className="tool-calls-editor" data-testid={`tool-calls-${index}`}>
      {calls.map((c, i) => (
        <div key={i} className="tool-call-row">
          <input className="input mono" aria-label={`Message ${index + 1} call ${i + 1} id`} value={c.id} onChange={(e) => set(i, { id: e.target.value })} />
          <input
            className="input mono"
            aria-label={`Message ${index + 1} call ${i + 1} function`}
            list={`tool-names-${index}`}
            value={c.name}
            onChange={(e) => set(i, { name: e.target.value })}
          />
          <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove call ${c.id}`} onClick={() => onChange(calls.filter((_, j) => j !== i))}>
            ✕
          </button>
          <textarea
            className="input mono"
            rows={2}
            spellCheck={false}
            aria-label={`Message ${index + 1} call ${i + 1} arguments`}
            placeholder='{"city": "{{city}}"}'
            value={c.arguments}
            onChange={(e) => set(i, { arguments: e.target.value })}
          />
        </div>
      ))}
      <datalist id={`tool-names-${index}`}>
        {toolNames.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
      <div>
        <button
          type="button"
          className="btn btn-small"
          onClick={() => onChange([...calls, { id: `call_${index + 1}_${calls.length + 1}`, name: toolNames[0] ?? "", arguments: "{}" }])}
        >
          Add tool call
        </button>
      </div>
    </div>
  );
}

/** Thumbnails of a message's images, with a way to add one from a file and to remove each. */
export function MessageImages({
  index,
  content,
  onChange,
  onError,
}: {
  index: number;
  content: string;
  onChange: (content: string) => void;
  onError: (message: string | null) => void;
}) {
  const images = imageLines(content);
  const pick = async () => {
    try {
      const path = await api.pickFile(false, null, "image");
      if (!path) return;
      const url = await api.imageDataUrl(path);
      const name = path.split(/[\\/]/).pop() ?? "image";
      onError(null);
      onChange(appendImage(content, name, url));
    } catch (e) {
      onError(toAppError(e).message);
    }
  };
  return (
    <div className="image-strip" data-testid={`message-images-${index}`}>
      {images.map((img, i) => (
        <figure key={`${img.line}-${img.url.length}`} className="image-thumb" title={describeImageUrl(img.url)}>
          {img.url.startsWith("data:") ? <img src={img.url} alt={img.alt} /> : <div className="var-image mono small">{img.url.startsWith("{{") ? img.url : "linked image"}</div>}
          <figcaption className="ellipsis">{img.alt}</figcaption>
          <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove image ${img.alt}`} onClick={() => onChange(removeImage(content, i))}>
            Remove
          </button>
        </figure>
      ))}
      <button type="button" className="btn btn-small btn-ghost" data-testid={`add-image-${index}`} onClick={() => void pick()}>
        Add image…
      </button>
    </div>
  );
}

/** Reads a dropped image file as a data URL, or says why it cannot be embedded. */
export function readDroppedImage(file: File): Promise<string> {
  const problem = imageFileProblem(file);
  if (problem) return Promise.reject(new Error(problem));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}
