import { expect } from "chai";

import { Progress } from "../../src/cli/progress";

function capture(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) > 0 } };
}

describe("progress (src/cli/progress.ts)", function () {
  it("off a terminal, 10,000 items log about ten sparse lines, not one per update", function () {
    const { writes, stream } = capture(false);
    const progress = new Progress("registering devices", 10_000, true, stream);
    for (let done = 0; done <= 10_000; done++) progress.update(done);
    expect(writes.length).to.be.within(10, 12);
    expect(writes[0]).to.equal("registering devices: 0/10000 (0%)\n");
    expect(writes.at(-1)).to.equal("registering devices: 10000/10000 (100%)\n");
    expect(writes).to.include("registering devices: 5000/10000 (50%)\n");
  });

  it("is silent when disabled, and says why when stopped early", function () {
    const { writes, stream } = capture(false);
    new Progress("x", 10, false, stream).update(5);
    expect(writes).to.deep.equal([]);
    const progress = new Progress("registering devices", 10, true, stream);
    progress.update(3);
    progress.stop("interrupted; re-run to resume");
    expect(writes.at(-1)).to.equal("registering devices: interrupted; re-run to resume\n");
  });

  it("on a terminal, draws one live bar that it redraws in place", function () {
    const { writes, stream } = capture(true);
    const tty = Object.assign(stream, { cursorTo: () => true, clearLine: () => true, columns: 120 });
    const progress = new Progress("generating devices", 4, true, tty);
    for (let done = 0; done <= 4; done++) progress.update(done);
    const text = writes.join("");
    expect(text).to.contain("generating devices [");
    expect(text).to.contain("4/4 (100%");
    expect(text.split("\n").filter((l) => l.includes("generating devices")).length).to.be.at.most(2);
  });
});
