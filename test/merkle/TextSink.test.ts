import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { TextSink } from "../../src/merkle/sink";

describe("TextSink (src/merkle/sink.ts): buffered writes on a writer thread", function () {
  it("writes text and byte ranges in order across many buffers, a range larger than a buffer included", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-sink-"));
    try {
      const file = path.join(dir, "out.txt");
      const sink = new TextSink(file);
      const parts: string[] = [];
      for (let i = 0; i < 200_000; i++) {
        const line = `line ${i} ${"x".repeat(i % 97)}\n`;
        sink.write(line);
        parts.push(line);
      }
      const big = Buffer.alloc(20_000_000);
      for (let i = 0; i < big.length; i++) big[i] = 65 + (i % 26);
      sink.copy(big, 5, big.length);
      parts.push(big.toString("latin1", 5));
      sink.write("end\n");
      parts.push("end\n");
      sink.close();
      expect(fs.readFileSync(file, "latin1") === parts.join("")).to.equal(true);
      const empty = path.join(dir, "empty.txt");
      new TextSink(empty).close();
      expect(fs.readFileSync(empty).length).to.equal(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a failed write (a full disk) is thrown to the caller, naming the file", function () {
    if (!fs.existsSync("/dev/full")) this.skip();
    const sink = new TextSink("/dev/full");
    const block = Buffer.alloc(1 << 20, 0x61);
    expect(() => {
      for (let i = 0; i < 40; i++) sink.copy(block, 0, block.length);
      sink.close();
    }).to.throw("/dev/full: ENOSPC: no space left on device, write");
    expect(() => sink.close()).to.not.throw();
  });
});
