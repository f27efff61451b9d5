import { MAX_RATING } from "../eip712/report";
import { DeviceIndex } from "./columns";
import type { RatedColumns } from "./columns";

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

/**
 * Scores every subject of `reports` at `reference` (seconds). The caller gives the reports in a canonical
 * order (the epoch's leaf order) so that floating-point sums come out identical on every machine.
 */
export function aggregate(
  reports: Iterable<RatedReport>,
  reference: number,
  params: ModelParams,
): Map<string, SubjectScore> {
  const index = new DeviceIndex();
  const columns = { devices: index.devices, reporters: [] as number[], subjects: [] as number[] };
  const values = { ratings: [] as number[], timestamps: [] as number[] };
  for (const r of reports) {
    columns.reporters.push(index.of(r.reporterId));
    columns.subjects.push(index.of(r.subjectId));
    values.ratings.push(r.rating);
    values.timestamps.push(r.timestamp);
  }
  return aggregateColumns({ ...columns, ...values }, reference, params);
}

/**
 * {@link aggregate} over reports as columns, read in `order` (report `order[k]` k-th; default: as stored):
 * the same sums in the same order, with each (reporter, subject) pair and subject found by index, not by
 * a string key. Subjects come out in the order first seen, as `aggregate`'s.
 */
export function aggregateColumns(
  reports: RatedColumns,
  reference: number,
  params: ModelParams,
  order?: Uint32Array,
): Map<string, SubjectScore> {
  const { devices, reporters, subjects: subjectOf, ratings, timestamps } = reports;
  const count = order?.length ?? reporters.length;
  const index = new PairIndex(devices.length);
  // One slot per (reporter, subject) pair, in the order first seen: at most one per report.
  const pairs = { count: 0, subject: new Uint32Array(count), positive: new Float64Array(count) };
  const negative = new Float64Array(count);
  const recent = { sum: new Float64Array(count), count: new Float64Array(count) };
  const subjectSlot = new Int32Array(devices.length).fill(-1);
  const subjects: Subject[] = [];
  const lambda = Math.LN2 / params.halfLife;
  for (let k = 0; k < count; k++) {
    const i = order === undefined ? k : order[k];
    const age = Math.max(0, reference - timestamps[i]);
    if (age > params.horizon) continue;
    const weight = Math.exp(-lambda * age);
    const good = ratings[i] / MAX_RATING;
    const subject = subjectOf[i];
    let p = index.get(reporters[i], subject);
    if (p === -1) {
      p = pairs.count++;
      pairs.subject[p] = subject;
      index.set(reporters[i], subject, p);
    }
    pairs.positive[p] += weight * good;
    negative[p] += weight * (1 - good);
    if (age <= params.recent) {
      recent.sum[p] += good;
      recent.count[p] += 1;
    }
    if (subjectSlot[subject] === -1) {
      subjectSlot[subject] = subjects.length;
      subjects.push({
        id: subject,
        positive: 0,
        negative: 0,
        recentSum: 0,
        recentReporters: 0,
        reports: 0,
        reporters: 0,
      });
    }
    subjects[subjectSlot[subject]].reports += 1;
  }
  for (let p = 0; p < pairs.count; p++) {
    const s = subjects[subjectSlot[pairs.subject[p]]];
    const total = pairs.positive[p] + negative[p];
    const scale = total > 1 ? 1 / total : 1;
    s.positive += pairs.positive[p] * scale;
    s.negative += negative[p] * scale;
    s.reporters += 1;
    if (recent.count[p] > 0) {
      s.recentSum += recent.sum[p] / recent.count[p];
      s.recentReporters += 1;
    }
  }
  return scoreSubjects(subjects, devices, params);
}

/** Each (reporter, subject) pair's slot: a dense table while devices² is small, else a Map. */
class PairIndex {
  private readonly dense: Int32Array | undefined;
  private readonly sparse = new Map<number, number>();

  constructor(private readonly devices: number) {
    if (devices * devices <= 1 << 24) this.dense = new Int32Array(devices * devices).fill(-1);
  }

  get(reporter: number, subject: number): number {
    const key = reporter * this.devices + subject;
    return this.dense !== undefined ? this.dense[key] : (this.sparse.get(key) ?? -1);
  }

  set(reporter: number, subject: number, slot: number): void {
    const key = reporter * this.devices + subject;
    if (this.dense !== undefined) this.dense[key] = slot;
    else this.sparse.set(key, slot);
  }
}

interface Subject {
  /** The subject's index among the devices. */
  id: number;
  positive: number;
  negative: number;
  recentSum: number;
  recentReporters: number;
  reports: number;
  reporters: number;
}

function scoreSubjects(
  subjects: Subject[],
  devices: readonly string[],
  params: ModelParams,
): Map<string, SubjectScore> {
  const scores = new Map<string, SubjectScore>();
  for (const s of subjects) {
    const subjectId = devices[s.id];
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
