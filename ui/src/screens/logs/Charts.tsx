import type { DayCostDto } from "../../bindings/DayCostDto";
import type { ModelLatencyDto } from "../../bindings/ModelLatencyDto";
import { lastDays, layoutBars, niceMax } from "../../lib/charts";
import { formatCost, formatLatency } from "../../lib/format";

const W = 520;
const H = 120;
const PAD_L = 56;
const PAD_B = 18;

/** Cost per day for the last 30 days, one bar per day (days without calls are empty). */
export function CostChart({ data }: { data: DayCostDto[] }) {
  const days = lastDays(30);
  const byDay = new Map(data.map((d) => [d.day.slice(0, 10), d] as const));
  const values = days.map((d) => byDay.get(d)?.cost_usd ?? 0);
  const max = niceMax(Math.max(...values));
  const plotW = W - PAD_L;
  const plotH = H - PAD_B;
  const bars = layoutBars(values, plotW, plotH, max, 3);
  const total = values.reduce((a, b) => a + b, 0);
  const unpriced = data.reduce((a, d) => a + d.unpriced_calls, 0);
  return (
    <figure className="chart">
      <figcaption>
        Cost per day, last 30 days · <strong>{formatCost(total)}</strong>
        {unpriced > 0 && <span className="muted"> · {unpriced} unpriced calls</span>}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Cost per day bar chart" preserveAspectRatio="none">
        <line x1={PAD_L} x2={W} y1={plotH} y2={plotH} className="axis" />
        <line x1={PAD_L} x2={W} y1={0.5} y2={0.5} className="grid-line" />
        <text x={PAD_L - 6} y={10} className="tick" textAnchor="end">
          {formatCost(max)}
        </text>
        <text x={PAD_L - 6} y={plotH} className="tick" textAnchor="end">
          $0
        </text>
        {bars.map((b, i) => {
          const d = byDay.get(days[i]);
          return (
            <rect key={days[i]} x={PAD_L + b.x} y={b.y} width={b.width} height={Math.max(b.height, values[i] > 0 ? 1 : 0)} className="bar">
              <title>
                {days[i]}: {formatCost(values[i])} ({d?.calls ?? 0} calls)
              </title>
            </rect>
          );
        })}
        <text x={PAD_L} y={H - 4} className="tick">
          {days[0].slice(5)}
        </text>
        <text x={W} y={H - 4} className="tick" textAnchor="end">
          today
        </text>
      </svg>
    </figure>
  );
}

/** p50 / p90 / p99 latency per model as grouped horizontal bars. */
export function LatencyChart({ data }: { data: ModelLatencyDto[] }) {
  const rowH = 22;
  const labelW = 150;
  const h = Math.max(1, data.length) * rowH + 14;
  const max = niceMax(Math.max(0, ...data.map((d) => d.p99_ms)));
  const plotW = W - labelW - 10;
  const x = (v: number) => (max > 0 ? (Math.min(v, max) / max) * plotW : 0);
  return (
    <figure className="chart">
      <figcaption>
        Latency per model, last 30 days · <span className="legend p50">p50</span> <span className="legend p90">p90</span>{" "}
        <span className="legend p99">p99</span>
      </figcaption>
      {data.length === 0 ? (
        <div className="muted small chart-empty">No calls yet.</div>
      ) : (
        <svg viewBox={`0 0 ${W} ${h}`} role="img" aria-label="Latency percentiles per model">
          {data.map((d, i) => {
            const y = i * rowH + 2;
            return (
              <g key={d.model}>
                <text x={labelW - 6} y={y + 13} className="tick" textAnchor="end">
                  {d.model.length > 22 ? `${d.model.slice(0, 21)}…` : d.model}
                </text>
                <rect x={labelW} y={y + 2} width={x(d.p99_ms)} height={rowH - 6} className="bar p99" />
                <rect x={labelW} y={y + 2} width={x(d.p90_ms)} height={rowH - 6} className="bar p90" />
                <rect x={labelW} y={y + 2} width={x(d.p50_ms)} height={rowH - 6} className="bar p50" />
                <title>
                  {d.model}: p50 {formatLatency(d.p50_ms)}, p90 {formatLatency(d.p90_ms)}, p99 {formatLatency(d.p99_ms)} ({d.calls} calls)
                </title>
              </g>
            );
          })}
          <text x={W - 2} y={h - 2} className="tick" textAnchor="end">
            {formatLatency(max)}
          </text>
        </svg>
      )}
    </figure>
  );
}
