import { formatGas, formatTable } from "../cli/output";
import { GAS_ANCHORS } from "./anchors";
import { UNAVOIDABLE, lowerBound } from "./bound";
import type { MeasuredTx } from "./bound";
import { L2_TARGETS, l2Miss, l2Size } from "./l2";
import type { L2Size } from "./l2";

/** Every row measured from a transaction should use at most this multiple of its lower bound. */
export const BOUND_TARGET = 1.1;

export interface GasRow {
  operation: string;
  gas: number;
  target: number | null;
  anchor: number | null;
  anchorSource: string | null;
  /** gas / anchor, rounded to 3 decimals. */
  ratio: number | null;
  /** gas − target when the target is missed, else null. */
  missesBy: number | null;
  note: string | null;
  /** The lower bound computed from the transaction (src/bench/bound.ts); null for computed figures. */
  bound: number | null;
  /** gas / bound, rounded to 3 decimals. */
  boundRatio: number | null;
  /** How far gas is above {@link BOUND_TARGET} × bound, in percent (1 decimal); null when within. */
  boundMissPercent: number | null;
  /** The signed transaction's size on an OP-stack L2 (src/bench/l2.ts); null for computed figures. */
  l2: L2Size | null;
}

export interface GasReport {
  generated: string;
  network: string;
  rows: GasRow[];
  misses: string[];
  /** Rows above {@link BOUND_TARGET} × their lower bound, each in one plain line with the reason recorded. */
  boundMisses: string[];
  /** Batch rows above their L2 data target ({@link L2_TARGETS}), each in one plain line. */
  l2Misses: string[];
}

function ratio(gas: number, anchor: number | undefined): number | null {
  return anchor === undefined ? null : Math.round((gas / anchor) * 1000) / 1000;
}

function boundColumns(gas: number, tx: MeasuredTx | undefined, operation: string) {
  const u = UNAVOIDABLE[operation];
  if (tx === undefined) return { bound: null, boundRatio: null, boundMissPercent: null, l2: null };
  const l2 = l2Size(tx);
  if (u === undefined) return { bound: null, boundRatio: null, boundMissPercent: null, l2 };
  const bound = lowerBound(tx, u).gas;
  const over = gas / (BOUND_TARGET * bound) - 1;
  return {
    bound,
    boundRatio: Math.round((gas / bound) * 1000) / 1000,
    boundMissPercent: over > 0 ? Math.ceil(over * 1000) / 10 : null,
    l2,
  };
}

/**
 * Joins measured gas with the anchors and targets of {@link GAS_ANCHORS} and, for rows measured from a
 * transaction (`transactions`), with its lower bound ({@link UNAVOIDABLE}) and its L2 size.
 */
export function buildGasReport(
  measured: Record<string, number>,
  generated = new Date().toISOString(),
  transactions: Record<string, MeasuredTx> = {},
): GasReport {
  const rows = Object.entries(measured)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([operation, gas]): GasRow[] => {
      const a = GAS_ANCHORS[operation] ?? {};
      const target = a.target ?? null;
      const main: GasRow = {
        operation,
        gas,
        target,
        anchor: a.anchor ?? null,
        anchorSource: a.source ?? null,
        ratio: ratio(gas, a.anchor),
        missesBy: target !== null && gas > target ? gas - target : null,
        note: a.note ?? null,
        ...boundColumns(gas, transactions[operation], operation),
      };
      const peers = (a.also ?? []).map((p): GasRow => ({
        operation: `${operation} vs ${p.peer}`,
        gas,
        target: null,
        anchor: p.anchor,
        anchorSource: p.source,
        ratio: ratio(gas, p.anchor),
        missesBy: null,
        note: null,
        bound: null,
        boundRatio: null,
        boundMissPercent: null,
        l2: null,
      }));
      return [main, ...peers];
    });
  const misses = rows
    .filter((r) => r.missesBy !== null)
    .map(
      (r) =>
        `${r.operation}: ${formatGas(r.gas)} gas misses its target of ${formatGas(r.target!)} by ${formatGas(r.missesBy!)}`,
    );
  const boundMisses = rows
    .filter((r) => r.boundMissPercent !== null)
    .map(
      (r) =>
        `${r.operation}: ${formatGas(r.gas)} gas is ${r.boundRatio!.toFixed(3)}× its lower bound of ${formatGas(r.bound!)}, missing ${BOUND_TARGET.toFixed(2)}× by ${r.boundMissPercent!.toFixed(1)}%: ${UNAVOIDABLE[r.operation]?.excess ?? "no reason recorded"}`,
    );
  const l2Misses = rows.map((r) => l2Miss(r.operation, r.l2)).filter((m): m is string => m !== null);
  return {
    generated,
    network: "Hardhat in-process network (Osaka rules), solc 0.8.30, optimizer on",
    rows,
    misses,
    boundMisses,
    l2Misses,
  };
}

function boundStatus(r: GasRow): string {
  if (r.bound === null) return "";
  return r.boundMissPercent === null ? `≤ ${BOUND_TARGET.toFixed(2)}` : `misses by ${r.boundMissPercent.toFixed(1)}%`;
}

function cells(r: GasRow): string[] {
  return [
    r.operation,
    formatGas(r.gas),
    r.bound === null ? "" : formatGas(r.bound),
    r.boundRatio === null ? "" : r.boundRatio.toFixed(3),
    boundStatus(r),
    r.l2 === null ? "" : formatGas(r.l2.rlpBytes),
    r.l2 === null ? "" : formatGas(r.l2.fastlzBytes),
    r.l2 === null ? "" : formatGas(Math.round(r.l2.fjordBytes)),
    r.target === null ? "" : formatGas(r.target),
    r.anchor === null ? "" : formatGas(r.anchor),
    r.ratio === null ? "" : r.ratio.toFixed(3),
    r.target === null ? "" : r.missesBy === null ? "meets" : `MISSES by ${formatGas(r.missesBy)}`,
    r.anchorSource ?? "",
  ];
}

const HEADERS = [
  "operation",
  "gas",
  "bound",
  "gas/bound",
  "bound status",
  "L2 signed bytes",
  "FastLZ bytes",
  "Fjord bytes",
  "target",
  "anchor",
  "ratio",
  "status",
  "anchor source",
];
/** Columns aligned left: the operation, the two statuses and the source. */
const LEFT = [0, 4, 11, 12];

function boundSummary(report: GasReport, separator: string): string {
  return report.boundMisses.length === 0
    ? `Every row with a bound is within ${BOUND_TARGET.toFixed(2)}× it.`
    : `Rows above ${BOUND_TARGET.toFixed(2)}× their lower bound:${separator}${report.boundMisses.join(separator)}`;
}

function l2Summary(report: GasReport, separator: string): string {
  const rows = Object.keys(L2_TARGETS).length;
  return report.l2Misses.length === 0
    ? `Every row with an L2 target (${rows}) meets it.`
    : `Rows above their L2 data target:${separator}${report.l2Misses.join(separator)}`;
}

export function renderText(report: GasReport): string {
  const summary =
    report.misses.length === 0
      ? "Every row with a target meets it."
      : `Rows that miss their target:\n  ${report.misses.join("\n  ")}`;
  return `${formatTable(HEADERS, report.rows.map(cells), LEFT)}\n\n${summary}\n\n${boundSummary(report, "\n  ")}\n\n${l2Summary(report, "\n  ")}`;
}

/** Every row as a Markdown table: operation, status and source left-aligned, figures right-aligned. */
function markdownTable(report: GasReport): string[] {
  const escape = (s: string): string => s.replace(/\|/g, "\\|");
  return [
    `| ${HEADERS.join(" | ")} |`,
    `|${HEADERS.map((_, i) => (LEFT.includes(i) ? "---" : "---:")).join("|")}|`,
    ...report.rows.map((r) => `| ${cells(r).map(escape).join(" | ")} |`),
  ];
}

export function renderMarkdown(report: GasReport): string {
  const lines = [
    "# ThingLedger gas report",
    "",
    `Generated by \`npm run bench:gas\` on ${report.generated}; ${report.network}. Ratio is gas / anchor; gas/bound is gas / the lower bound computed from the transaction (see README, "Gas"); the L2 columns size the signed transaction as an OP-stack chain charges it.`,
    "",
    ...markdownTable(report),
    "",
    report.misses.length === 0
      ? "Every row with a target meets it."
      : `**Rows that miss their target:**\n\n${report.misses.map((m) => `- ${m}`).join("\n")}`,
    "",
    report.boundMisses.length === 0
      ? boundSummary(report, "")
      : `**Rows above ${BOUND_TARGET.toFixed(2)}× their lower bound:**\n\n${report.boundMisses.map((m) => `- ${m}`).join("\n")}`,
    "",
    report.l2Misses.length === 0
      ? l2Summary(report, "")
      : `**Rows above their L2 data target:**\n\n${report.l2Misses.map((m) => `- ${m}`).join("\n")}`,
    "",
    "Notes:",
    "",
    ...report.rows.filter((r) => r.note !== null).map((r) => `- **${r.operation}**: ${r.note}`),
    "",
  ];
  return lines.join("\n");
}

const README_BEGIN = "<!-- gas-table:begin (written by npm run bench:gas) -->";
const README_END = "<!-- gas-table:end -->";

/** The gas table for the README: every row, its target, anchor, ratio and status, and the misses. */
export function renderReadmeTable(report: GasReport): string {
  return [
    ...markdownTable(report),
    "",
    report.misses.length === 0
      ? "Every row with a target meets it."
      : `Rows that miss their target: ${report.misses.join("; ")}.`,
    "",
    report.boundMisses.length === 0
      ? boundSummary(report, "")
      : `Rows above ${BOUND_TARGET.toFixed(2)}× their lower bound: ${report.boundMisses.join("; ")}.`,
    "",
    report.l2Misses.length === 0
      ? l2Summary(report, "")
      : `Rows above their L2 data target: ${report.l2Misses.join("; ")}.`,
  ].join("\n");
}

/** Replaces the README's generated gas table (between its markers) with `table`. */
export function spliceReadme(readme: string, table: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the markers ${README_BEGIN} … ${README_END}`);
  return `${readme.slice(0, begin + README_BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
}
