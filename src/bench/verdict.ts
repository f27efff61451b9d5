/* What the benchmarks print (bench:indexer, bench:app): percentiles, and each target met or missed, plainly. */

/** The p-th percentile (nearest rank) of `sorted` (ascending). */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** "met" or "MISSED by N% (Rx)", for a figure against its target. */
export function verdict(value: number, target: number, higherIsBetter: boolean): string {
  const met = higherIsBetter ? value >= target : value <= target;
  if (met) return "met";
  const ratio = higherIsBetter ? target / value : value / target;
  return `MISSED by ${((ratio - 1) * 100).toFixed(0)}% (${ratio.toFixed(2)}x)`;
}

/** A row of a bench's table: what was measured, the figure, the target, and its verdict(s). */
export type BenchRow = [what: string, value: string, target: string, verdict: string];

/**
 * The rows, in columns `widths` wide, then "Every target met." or "Missed: " and each row with a miss in
 * its verdict.
 */
export function renderVerdicts(rows: readonly BenchRow[], widths: readonly [number, number, number]): string {
  const lines = rows.map(
    ([what, value, target, result]) =>
      `  ${what.padEnd(widths[0])} ${value.padEnd(widths[1])} ${target.padEnd(widths[2])} ${result}`,
  );
  const missed = rows.filter((r) => r[3].includes("MISSED"));
  lines.push(
    missed.length === 0
      ? "\nEvery target met."
      : `\nMissed: ${missed.map((r) => `${r[0].trim()}: ${r[3].replace(/^MISSED /, "")}`).join("; ")}`,
  );
  return lines.join("\n");
}

/** Runs a bench's `main`; a failure is one line and exit code 1 (a missed target is not a failure). */
export function runBench(name: string, main: () => Promise<void>): void {
  main().catch((error: Error) => {
    console.error(`${name} failed: ${error.message}`);
    process.exit(1);
  });
}
