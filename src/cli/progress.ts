import { Presets, SingleBar } from "cli-progress";

/** Where progress goes: stderr, so stdout stays clean for `--json`. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): boolean;
}

/** On a stream that is not a terminal (a log, a CI job), at most one line per this share of the work… */
const LINE_EVERY_SHARE = 0.1;
/** …or per this many milliseconds, whichever comes first. */
const LINE_EVERY_MS = 10_000;

/**
 * Progress of a long task on stderr. On a terminal, a live bar (npm's `cli-progress`: count, rate and
 * ETA). Elsewhere, sparse plain lines: one per 10% of the work or per 10 s, so 10,000 items log about ten
 * lines, not thousands. Silent when `enabled` is false.
 */
export class Progress {
  private bar: SingleBar | undefined;
  private lastLine = { at: 0, done: -1 };

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled = true,
    private readonly stream: ProgressStream = process.stderr,
  ) {}

  update(done: number): void {
    if (!this.enabled || this.total === 0) return;
    if (this.stream.isTTY === true) this.updateBar(done);
    else this.updateLines(done);
  }

  /** Ends the bar early (an interrupted or failed run), with `why` on its own line. */
  stop(why?: string): void {
    this.bar?.stop();
    this.bar = undefined;
    if (this.enabled && why !== undefined) this.stream.write(`${this.label}: ${why}\n`);
  }

  private updateBar(done: number): void {
    if (this.bar === undefined) {
      this.bar = new SingleBar(
        {
          format: `${this.label} [{bar}] {value}/{total} ({percentage}%, {eta_formatted} left)`,
          stream: this.stream as NodeJS.WriteStream,
          hideCursor: true,
          noTTYOutput: false,
        },
        Presets.legacy,
      );
      this.bar.start(this.total, 0);
    }
    this.bar.update(done);
    if (done >= this.total) this.stop();
  }

  private updateLines(done: number): void {
    const now = Date.now();
    const step = Math.max(1, Math.ceil(this.total * LINE_EVERY_SHARE));
    const first = this.lastLine.done < 0;
    const finished = done >= this.total;
    const crossed = Math.floor(done / step) > Math.floor(Math.max(0, this.lastLine.done) / step);
    if (!first && !finished && !crossed && now - this.lastLine.at < LINE_EVERY_MS) return;
    if (finished && this.lastLine.done >= this.total) return;
    this.lastLine = { at: now, done };
    const percent = Math.floor((done / this.total) * 100);
    this.stream.write(`${this.label}: ${done}/${this.total} (${percent}%)\n`);
  }
}
