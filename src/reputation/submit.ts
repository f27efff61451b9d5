import { ensure } from "../errors";
import { NotJsonError, fetchJson } from "../http/client";
import type { JsonAnswer } from "../http/client";
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
    let answer: JsonAnswer<{ digest?: string }>;
    try {
      answer = await postPaced(base, report);
    } catch (error) {
      // An answer that is not JSON (a proxy's error page) refuses this report; the next ones are still sent.
      if (!(error instanceof NotJsonError)) throw error;
      outcomes.push({ index, accepted: false, status: error.status, error: error.message });
      continue;
    }
    const { ok, status, body } = answer;
    outcomes.push({ index, accepted: ok, status, digest: body.digest, error: body.error });
  }
  return outcomes;
}

/** How often one report is sent again after a 429 or 503 (it waits the answer's Retry-After, at most 30 s). */
const SUBMIT_RETRIES = 5;

/**
 * Posts one report. A report answered 429 (over the rate limit) or 503 (the auditor cannot read the chain)
 * is sent again after the answer's `Retry-After`, up to {@link SUBMIT_RETRIES} times, so a large file is
 * paced by the auditor, not refused.
 */
async function postPaced(base: string, report: ReportBody): Promise<JsonAnswer<{ digest?: string }>> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetchJson<{ digest?: string }>("auditor", `${base}/reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    if ((response.status !== 429 && response.status !== 503) || attempt === SUBMIT_RETRIES) return response;
    const seconds = Math.min(Math.max(Number(response.headers.get("retry-after")) || 1, 1), 30);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
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
  to: { out?: string; auditor?: string; force?: boolean },
): Promise<DeliveredReport> {
  ensure(to.out !== undefined || to.auditor !== undefined, "a report needs a file, an auditor or both to go to");
  if (to.out !== undefined) writeReportFile(to.out, [report], to.force ?? false);
  if (to.auditor === undefined) return { report, file: to.out };
  const [outcome] = await submitReports(to.auditor, [report]);
  ensure(outcome.accepted, `the auditor refused the report (${outcome.status}): ${outcome.error ?? "no reason given"}`);
  return { report, file: to.out, auditor: to.auditor, digest: outcome.digest };
}
