import type { CheckedCall } from "../../bindings/CheckedCall";
import type { ToolStep } from "../../bindings/ToolStep";
import { ToolExchange } from "../../components/ToolExchange";
import type { DiffPart } from "../../lib/wordDiff";

/**
 * What a grid cell shows below its figures: its tool exchange (if it used tools) and its output,
 * or, in diff mode, the word diff against the baseline (calls included, as text).
 */
export function CellBody({
  id,
  text,
  running,
  diffParts,
  result,
}: {
  id: string;
  text: string;
  running: boolean;
  diffParts: DiffPart[] | null;
  result: { steps?: ToolStep[]; tool_calls?: CheckedCall[] } | null;
}) {
  const output = (
    <pre className="cell-output" data-testid={`cell-output-${id}`}>
      {diffParts
        ? diffParts.map((p, i) => (
            <span key={i} className={p.tag === "equal" ? undefined : p.tag === "insert" ? "diff-insert" : "diff-delete"}>
              {p.text}
            </span>
          ))
        : text}
      {running && <span className="caret" aria-hidden="true" />}
    </pre>
  );
  const toolUse = (result?.steps?.length ?? 0) > 0 || (result?.tool_calls?.length ?? 0) > 0;
  if (diffParts || !toolUse) return output;
  return (
    <div className="cell-scroll">
      <ToolExchange steps={result?.steps} calls={result?.tool_calls} compact />
      {output}
    </div>
  );
}
