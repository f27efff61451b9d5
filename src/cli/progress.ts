/** A progress line on stderr (stdout stays clean for --json). Silent when `enabled` is false. */
export class Progress {
  private last = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled = true,
  ) {}

  update(done: number): void {
    if (!this.enabled || this.total === 0) return;
    const now = Date.now();
    if (done < this.total && now - this.last < 200) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / this.total) * width);
    const line = `${this.label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${this.total}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
    else process.stderr.write(`${line}\n`);
    if (done >= this.total && process.stderr.isTTY) process.stderr.write("\n");
  }
}
