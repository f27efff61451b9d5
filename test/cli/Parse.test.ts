import { expect } from "chai";
import hre from "hardhat";

import { parseAddress } from "../../src/cli/parse";
import { UserError } from "../../src/errors";

const CHECKSUMMED = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

describe("parseAddress", function () {
  function parsed(value: string): { address: string; warnings: string[] } {
    const warnings: string[] = [];
    return { address: parseAddress("to", value, (line) => warnings.push(line)), warnings };
  }

  it("accepts a checksummed address without a warning", function () {
    expect(parsed(CHECKSUMMED)).to.deep.equal({ address: CHECKSUMMED, warnings: [] });
  });

  it("accepts an all-lower-case (or all-upper-case) address, which carries no checksum, with a one-line warning naming it", function () {
    for (const value of [CHECKSUMMED.toLowerCase(), `0x${CHECKSUMMED.slice(2).toUpperCase()}`]) {
      expect(parsed(value)).to.deep.equal({
        address: CHECKSUMMED,
        warnings: [
          `Warning: --to: ${value} has no EIP-55 checksum (all one case), so a typo in it cannot be caught; check it is ${CHECKSUMMED}`,
        ],
      });
    }
    // A mistyped lower-case address (last digit 6 -> 7) is a different, valid address: it is accepted, and warned about.
    const typo = `${CHECKSUMMED.toLowerCase().slice(0, -1)}7`;
    const { warnings } = parsed(typo);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/^Warning: --to: 0x90f79bf6eb2c4f870365e785982e1f101e93b907 has no EIP-55 checksum/);
  });

  it("refuses a mixed-case address whose checksum fails, and a malformed one, in one line", function () {
    const broken = `${CHECKSUMMED.slice(0, -1)}7`;
    expect(() => parsed(broken)).to.throw(
      UserError,
      `--to: "${broken}" fails its EIP-55 checksum (a mistyped letter or digit?); check it, or write it in lower case`,
    );
    expect(() => parsed("0x123")).to.throw(
      UserError,
      '--to: "0x123" is not an Ethereum address (0x followed by 40 hex digits)',
    );
  });

  it("a task given a lower-case address warns on stderr, and its --json answer on stdout stays one JSON document", async function () {
    const out: string[] = [];
    const err: string[] = [];
    const write = { out: process.stdout.write, err: process.stderr.write, log: console.log };
    console.log = (line: unknown) => void out.push(`${String(line)}\n`);
    process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      await hre.run("token:balance", { json: true, account: CHECKSUMMED.toLowerCase() });
    } finally {
      console.log = write.log;
      process.stderr.write = write.err;
    }
    expect(err.filter((l) => l.includes("EIP-55"))).to.deep.equal([
      `Warning: --account: ${CHECKSUMMED.toLowerCase()} has no EIP-55 checksum (all one case), so a typo in it cannot be caught; check it is ${CHECKSUMMED}\n`,
    ]);
    expect(JSON.parse(out.join(""))).to.include({ account: CHECKSUMMED });
  });
});
