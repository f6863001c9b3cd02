import { niceMax, placeLabels } from "../../lib/charts";
import type { ColumnFigures } from "../../lib/experimentState";
import { formatCost, formatLatency } from "../../lib/format";
import { formatShare } from "../../lib/estimateFormat";

const W = 300;
const H = 170;
const PAD_L = 34;
const PAD_R = 12;
const PAD_T = 10;
const PAD_B = 22;

interface Point {
  column: number;
  x: number;
  y: number;
}

/** A short name for a column on a chart: its model, else its label. */
function shortLabel(label: string): string {
  const model = label.includes(" · ") ? label.slice(label.lastIndexOf(" · ") + 3) : label;
  return model.length > 18 ? `${model.slice(0, 17)}…` : model;
}

function Scatter({
  title,
  kind,
  points,
  labels,
  formatX,
  missing,
}: {
  title: string;
  kind: "cost" | "latency";
  points: Point[];
  labels: string[];
  formatX: (v: number) => string;
  missing: string;
}) {
  const maxX = niceMax(Math.max(0, ...points.map((p) => p.x)));
  const plotW = W - PAD_L - PAD_R;
  const plotH = H - PAD_T - PAD_B;
  const sx = (v: number) => PAD_L + (maxX > 0 ? (v / maxX) * plotW : 0);
  const sy = (v: number) => PAD_T + (1 - Math.max(0, Math.min(1, v))) * plotH;
  // Points close together would write their labels over each other: stack them instead.
  const offsets = placeLabels(
    points.map((p) => {
      const x = sx(p.x);
      return { x, y: sy(p.y), chars: `${p.column + 1} ${shortLabel(labels[p.column])}`.length, left: x > W - 90 };
    }),
  );
  return (
    <figure className="chart exp-chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        <line x1={PAD_L} x2={W - PAD_R} y1={PAD_T + plotH} y2={PAD_T + plotH} className="axis" />
        <line x1={PAD_L} x2={PAD_L} y1={PAD_T} y2={PAD_T + plotH} className="axis" />
        <line x1={PAD_L} x2={W - PAD_R} y1={sy(0.5)} y2={sy(0.5)} className="grid-line" />
        <line x1={PAD_L} x2={W - PAD_R} y1={sy(1)} y2={sy(1)} className="grid-line" />
        <text x={PAD_L - 4} y={sy(1) + 3} className="tick" textAnchor="end">
          100%
        </text>
        <text x={PAD_L - 4} y={sy(0.5) + 3} className="tick" textAnchor="end">
          50%
        </text>
        <text x={PAD_L - 4} y={sy(0) + 3} className="tick" textAnchor="end">
          0%
        </text>
        <text x={PAD_L} y={H - 6} className="tick">
          0
        </text>
        <text x={W - PAD_R} y={H - 6} className="tick" textAnchor="end">
          {formatX(maxX)}
        </text>
        {points.map((p, i) => {
          const x = sx(p.x);
          const y = sy(p.y);
          const right = x > W - 90;
          const dy = offsets[i];
          return (
            <g key={p.column} className={`point point-${p.column % 8}`} data-testid={`chart-point-${kind}-${p.column}`}>
              <circle cx={x} cy={y} r={4.5} />
              <text x={right ? x - 7 : x + 7} y={y - 5 + dy} className="point-label" textAnchor={right ? "end" : "start"}>
                {p.column + 1} {shortLabel(labels[p.column])}
              </text>
              <title>
                {labels[p.column]}: {formatShare({ mean: p.y, low: null, high: null, n: 1 })} at {formatX(p.x)}
              </title>
            </g>
          );
        })}
      </svg>
      {missing && <div className="muted small">{missing}</div>}
    </figure>
  );
}

/**
 * Each column's quality (share of rows passing every check) against what a row's output costs,
 * and against its median latency: the cheapest or fastest column at a given pass rate shows.
 */
export function ExperimentCharts({ figures }: { figures: ColumnFigures[] }) {
  const labels = figures.map((f) => f.label);
  const cost: Point[] = [];
  const latency: Point[] = [];
  const noCost: number[] = [];
  figures.forEach((f, i) => {
    if (!f.passRate) return;
    if (f.costPerRowUsd !== null) cost.push({ column: i, x: f.costPerRowUsd, y: f.passRate.mean });
    else noCost.push(i + 1);
    if (f.p50) latency.push({ column: i, x: f.p50.mean, y: f.passRate.mean });
  });
  return (
    <section className="exp-charts" data-testid="experiment-chart" aria-label="Quality against cost and latency">
      <Scatter
        title="Pass rate against cost per row"
        kind="cost"
        points={cost}
        labels={labels}
        formatX={formatCost}
        missing={noCost.length ? `Cost unknown for column${noCost.length > 1 ? "s" : ""} ${noCost.join(", ")} (no price for the model).` : ""}
      />
      <Scatter title="Pass rate against latency p50" kind="latency" points={latency} labels={labels} formatX={formatLatency} missing="" />
      {cost.length === 0 && latency.length === 0 && <div className="muted small">The charts fill in as cells are checked.</div>}
    </section>
  );
}
