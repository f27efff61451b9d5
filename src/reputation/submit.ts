import { UserError, ensure } from "../errors";
import type { ReportBody } from "./auditor";
import { writeReportFile } from "./files";

export interface SubmitOutcome {
  index: number;
  accepted: boolean;
  status: number;
  digest?: string;
  error?: string;
}

/** Posts reports to an auditor, one request each; the auditor's answer for each is kept. */
export async function submitReports(url: string, reports: readonly ReportBody[]): Promise<SubmitOutcome[]> {
  const base = url.replace(/\/+$/, "");
  const outcomes: SubmitOutcome[] = [];
  for (const [index, report] of reports.entries()) {
    let response: Response;
    try {
      response = await fetch(`${base}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(report),
      });
    } catch (error) {
      throw new UserError(`cannot reach the auditor at ${base}: ${(error as Error).message}`);
    }
    const body = (await response.json().catch(() => ({}))) as { digest?: string; error?: string };
    outcomes.push({ index, accepted: response.ok, status: response.status, digest: body.digest, error: body.error });
  }
  return outcomes;
}

export interface DeliveredReport {
  report: ReportBody;
  /** The report file written, if any. */
  file?: string;
  /** The auditor it was sent to, if any, and the digest under which it stored it. */
  auditor?: string;
  digest?: string;
}

/**
 * Sends a signed report where it should go: a report file (`out`), an auditor (`auditor`), or both. At
 * least one is required; an auditor's refusal is an error naming its status and reason.
 */
export async function deliverReport(
  report: ReportBody,
  to: { out?: string; auditor?: string },
): Promise<DeliveredReport> {
  ensure(to.out !== undefined || to.auditor !== undefined, "a report needs a file, an auditor or both to go to");
  if (to.out !== undefined) writeReportFile(to.out, [report]);
  if (to.auditor === undefined) return { report, file: to.out };
  const [outcome] = await submitReports(to.auditor, [report]);
  ensure(outcome.accepted, `the auditor refused the report (${outcome.status}): ${outcome.error ?? "no reason given"}`);
  return { report, file: to.out, auditor: to.auditor, digest: outcome.digest };
}
