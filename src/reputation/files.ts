import { writeJsonOutput } from "../cli/files";
import { readJsonFile } from "../cli/json";
import { DEVICE_SIGNATURE_PATTERN } from "../eip712/device";
import { MAX_RATING } from "../eip712/report";
import { ensure } from "../errors";
import type { ReportBody } from "./auditor";

/** The `kind` of a report file: signed reports, written by a reporter and sent to an auditor later. */
export const REPORT_FILE_KIND = "thingledger.device-reports";

/** Writes a report file atomically; refuses to replace one unless `force` (the task's `--force`). */
export function writeReportFile(file: string, reports: readonly ReportBody[], force = false): void {
  writeJsonOutput(file, { kind: REPORT_FILE_KIND, version: 1, reports }, { force, flag: "out" });
}

/** The problems of one report of a report file (`at` names it), each as one phrase. */
function reportProblems(r: Record<string, unknown> | undefined, at: string): string[] {
  const hex = (v: unknown, bytes: number) =>
    typeof v === "string" && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v);
  const problems: string[] = [];
  for (const field of ["reporterId", "subjectId", "interaction"])
    if (!hex(r?.[field], 32)) problems.push(`${at}: "${field}" must be 0x + 64 hex`);
  if (!hex(r?.signature, 65)) problems.push(`${at}: "signature" must be 0x + 130 hex`);
  if (typeof r?.evidence !== "string" || !DEVICE_SIGNATURE_PATTERN.test(r.evidence))
    problems.push(`${at}: "evidence" must be 0x + 130 hex (or 128 in EIP-2098 compact form)`);
  if (!Number.isInteger(r?.rating) || (r?.rating as number) < 0 || (r?.rating as number) > MAX_RATING)
    problems.push(`${at}: "rating" must be 0-${MAX_RATING}`);
  if (!Number.isInteger(r?.timestamp) || (r?.timestamp as number) < 0)
    problems.push(`${at}: "timestamp" must be seconds`);
  return problems;
}

/** Reads a report file; every problem is named before anything is sent. */
export function readReportFile(file: string): ReportBody[] {
  const what = `a ThingLedger report file (${REPORT_FILE_KIND} v1)`;
  const parsed = (readJsonFile(file, what) ?? {}) as { kind?: unknown; version?: unknown; reports?: unknown };
  ensure(parsed.kind === REPORT_FILE_KIND && parsed.version === 1, `${file} is not ${what}`);
  ensure(Array.isArray(parsed.reports) && parsed.reports.length > 0, `${file} holds no reports`);
  const reports = parsed.reports as (Record<string, unknown> | undefined)[];
  const problems = reports.flatMap((r, i) => reportProblems(r, `report ${i + 1}`));
  ensure(problems.length === 0, `${file}: ${problems.length} problem(s): ${problems.join("; ")}`);
  return parsed.reports as ReportBody[];
}
