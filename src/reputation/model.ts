import { MAX_RATING } from "../eip712/report";

/**
 * The aggregation model: beta reputation with time decay (Jøsang and Ismail's beta reputation system,
 * with exponential forgetting). Everything here is a pure function of the reports it is given, the
 * reference time and the parameters, so anyone holding an epoch's published reports can recompute its
 * scores exactly.
 *
 * For a subject device:
 * - a report with rating r (0-100) and age a = max(0, reference − timestamp) seconds carries weight
 *   w = 2^(−a / halfLife), split into positive evidence w·r/100 and negative evidence w·(1 − r/100);
 * - one reporter counts as at most one full report about a subject: when a (reporter, subject) pair's
 *   evidence adds up to more than 1, it is scaled down to 1 (many interactions between the same two
 *   devices cannot outvote many devices);
 * - with P and N the sums over all reporters, α = 1 + P and β = 1 + N (a uniform prior), and the score is
 *   round(1000 · α / (α + β)): 500 with no evidence, towards 1,000 or 0 as evidence accumulates;
 * - the trend is the direction of recent behaviour: the mean rating of reports from the last `recent`
 *   seconds (each reporter once, its reports averaged), scaled to 0-1,000, against the score: +1 when it
 *   is at least `trendThreshold` above, −1 when at least that much below, else 0 (and 0 with no recent
 *   report).
 * Reports older than `horizon` are not used at all.
 */
export interface ModelParams {
  /** Seconds after which a report counts half. */
  halfLife: number;
  /** Reports older than this many seconds are left out. */
  horizon: number;
  /** The window, in seconds, whose reports set the trend. */
  recent: number;
  /** Score points between recent behaviour and the score before the trend turns. */
  trendThreshold: number;
}

/** The defaults for an epoch of `epochLength` seconds: half-life 7 epochs, horizon 8 half-lives. */
export function defaultModel(epochLength: number): ModelParams {
  return { halfLife: 7 * epochLength, horizon: 56 * epochLength, recent: epochLength, trendThreshold: 50 };
}

export function checkModel(params: ModelParams): void {
  for (const key of ["halfLife", "horizon", "recent"] as const) {
    if (!Number.isInteger(params[key]) || params[key] <= 0)
      throw new Error(`model ${key} must be a positive whole number of seconds`);
  }
  if (!Number.isInteger(params.trendThreshold) || params.trendThreshold < 0 || params.trendThreshold > 1000)
    throw new Error("model trendThreshold must be 0-1000");
}

/** The fields of a report the model reads. */
export interface RatedReport {
  reporterId: string;
  subjectId: string;
  rating: number;
  timestamp: number;
}

export interface SubjectScore {
  subjectId: string;
  score: number;
  trend: -1 | 0 | 1;
  reports: number;
  reporters: number;
}

interface Pair {
  subjectId: string;
  positive: number;
  negative: number;
  recentSum: number;
  recentCount: number;
}

interface Subject {
  positive: number;
  negative: number;
  recentSum: number;
  recentReporters: number;
  reports: number;
  reporters: number;
}

/**
 * Scores every subject of `reports` at `reference` (seconds). The caller gives the reports in a canonical
 * order (the epoch's leaf order) so that floating-point sums come out identical on every machine.
 */
export function aggregate(
  reports: Iterable<RatedReport>,
  reference: number,
  params: ModelParams,
): Map<string, SubjectScore> {
  const pairs = new Map<string, Pair>();
  const subjects = new Map<string, Subject>();
  const lambda = Math.LN2 / params.halfLife;
  for (const r of reports) {
    const age = Math.max(0, reference - r.timestamp);
    if (age > params.horizon) continue;
    const weight = Math.exp(-lambda * age);
    const good = r.rating / MAX_RATING;
    const key = r.reporterId + r.subjectId;
    let pair = pairs.get(key);
    if (pair === undefined) {
      pair = { subjectId: r.subjectId, positive: 0, negative: 0, recentSum: 0, recentCount: 0 };
      pairs.set(key, pair);
    }
    pair.positive += weight * good;
    pair.negative += weight * (1 - good);
    if (age <= params.recent) {
      pair.recentSum += good;
      pair.recentCount += 1;
    }
    let subject = subjects.get(r.subjectId);
    if (subject === undefined) {
      subject = { positive: 0, negative: 0, recentSum: 0, recentReporters: 0, reports: 0, reporters: 0 };
      subjects.set(r.subjectId, subject);
    }
    subject.reports += 1;
  }
  for (const pair of pairs.values()) {
    const subject = subjects.get(pair.subjectId) as Subject;
    const total = pair.positive + pair.negative;
    const scale = total > 1 ? 1 / total : 1;
    subject.positive += pair.positive * scale;
    subject.negative += pair.negative * scale;
    subject.reporters += 1;
    if (pair.recentCount > 0) {
      subject.recentSum += pair.recentSum / pair.recentCount;
      subject.recentReporters += 1;
    }
  }
  const scores = new Map<string, SubjectScore>();
  for (const [subjectId, s] of subjects) {
    const alpha = 1 + s.positive;
    const beta = 1 + s.negative;
    const score = Math.round((1000 * alpha) / (alpha + beta));
    let trend: -1 | 0 | 1 = 0;
    if (s.recentReporters > 0) {
      const recent = (1000 * s.recentSum) / s.recentReporters;
      if (recent >= score + params.trendThreshold) trend = 1;
      else if (recent <= score - params.trendThreshold) trend = -1;
    }
    scores.set(subjectId, { subjectId, score, trend, reports: s.reports, reporters: s.reporters });
  }
  return scores;
}
