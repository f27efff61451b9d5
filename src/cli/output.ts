/** Converts a value to something JSON.stringify accepts, turning bigints into decimal strings. */
export function toJsonValue(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}

/** Prints `result` as indented JSON on stdout. */
export function printJson(result: unknown): void {
  console.log(JSON.stringify(toJsonValue(result), null, 2));
}

/** Formats a gas figure with thousands separators: 51560n -> "51,560". */
export function formatGas(gas: bigint | number): string {
  return Number(gas).toLocaleString("en-US");
}

/** A minimal aligned table for human output. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  leftAligned: readonly number[] = [0],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (leftAligned.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
