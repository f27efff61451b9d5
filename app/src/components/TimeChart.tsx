import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface TimeChartProps {
  /** Unix seconds, ascending. */
  x: number[];
  y: number[];
  label: string;
  /** Bars (counts per day) or a stepped line (a score that holds until the next change). */
  kind: "bars" | "steps";
  /** The y range's floor and ceiling, when fixed (a score is 0 to 1000). */
  range?: [number, number];
  /** What the chart shows, said in words for screen readers and tests (the canvas says nothing). */
  summary: string;
  testId: string;
}

/** A uPlot chart of one series over time, sized to its container and redrawn when the data changes. */
export function TimeChart({ x, y, label, kind, range, summary, testId }: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const width = () => Math.max(280, el.clientWidth);
    const paths = kind === "bars" ? uPlot.paths.bars!({ size: [0.6, 40] }) : uPlot.paths.stepped!({ align: 1 });
    const chart = new uPlot(
      {
        width: width(),
        height: 220,
        scales: {
          // Bars get half a day of room either side, so the first and last are drawn whole; so do steps spanning
          // less than a day (a lone score change), which uPlot would otherwise stretch over years (it pads a lone
          // point by 86400 "milliseconds" of a seconds scale).
          x: {
            time: true,
            range: (_u, min, max) => {
              const [first, last] = [x[0] ?? min, x[x.length - 1] ?? max];
              return kind === "bars" || last - first < 86_400 ? [first - 43_200, last + 43_200] : [min, max];
            },
          },
          y: range === undefined ? { range: (_u, _min, max) => [0, Math.max(1, max)] } : { range },
        },
        axes: [{}, { label }],
        series: [
          {},
          {
            label,
            stroke: "#14324a",
            fill: kind === "bars" ? "rgba(20, 50, 74, 0.35)" : "rgba(20, 50, 74, 0.08)",
            width: 2,
            paths,
            points: { show: kind === "steps" },
          },
        ],
      },
      [x, y],
      el,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: width(), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [x, y, label, kind, range]);
  return (
    <figure className="chart" data-testid={testId}>
      <div ref={box} role="img" aria-label={summary} />
      <figcaption className="hint" data-testid={`${testId}-summary`}>
        {summary}
      </figcaption>
    </figure>
  );
}
