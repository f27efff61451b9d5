import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { Transaction, computeAddress, hexlify, keccak256, toUtf8Bytes } from "ethers";

import { UNAVOIDABLE, calldataTokens, logCost, lowerBound } from "../../src/bench/bound";
import type { MeasuredTx } from "../../src/bench/bound";
import { fjordEstimatedSize, flzCompressLength } from "../../src/bench/fastlz";
import { L2_TX, l2Size, signedL2Transaction } from "../../src/bench/l2";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));

function tx(data: string, logs: MeasuredTx["logs"] = []): MeasuredTx {
  return { to: "0x000000000000000000000000000000000000dEaD", data, value: "0", gasLimit: "100000", logs };
}

describe("gas lower bound", function () {
  it("counts calldata tokens as zero bytes + 4 × non-zero bytes", function () {
    expect(calldataTokens("0x")).to.equal(0);
    expect(calldataTokens("0x00ff0001")).to.equal(1 + 4 + 1 + 4);
  });

  it("prices a log at 375 + 375 per topic + 8 per data byte", function () {
    // An ERC-20 Transfer: 3 topics, a 32-byte amount.
    expect(logCost({ topics: 3, dataBytes: 32 })).to.equal(375 + 1_125 + 256);
    expect(logCost({ topics: 0, dataBytes: 0 })).to.equal(375);
  });

  it("applies the EIP-7623 floor when calldata dominates, and the standard cost otherwise", function () {
    // 1,000 non-zero bytes: 4,000 tokens; standard 16,000, floor 40,000, nothing else to pay.
    const heavy = lowerBound(tx("0x" + "ff".repeat(1_000)), { why: "calldata only" });
    expect(heavy).to.include({ calldata: 16_000, floor: 40_000, floorApplies: true, gas: 61_000 });
    // The same calldata with two fresh slots and a log: 21,000 + 16,000 + 2 × 22,100 + 1,756 > the floor.
    const busy = lowerBound(tx("0x" + "ff".repeat(1_000), [{ topics: 3, dataBytes: 32 }]), {
      why: "two stores",
      slotCreates: 2,
    });
    expect(busy).to.include({ floorApplies: false, gas: 21_000 + 16_000 + 44_200 + 1_756 });
  });

  it("prices accesses, stores, ecrecover, hashes, value transfers and creations, and caps the refund at a fifth", function () {
    const b = lowerBound(tx("0x"), {
      why: "everything once",
      coldAccounts: 1,
      slotReads: 1,
      slotCreates: 1,
      slotUpdates: 1,
      slotClears: 1,
      ecrecovers: 1,
      keccakWords: [2, 0],
      valueTransfers: 1,
      creations: 1,
      codeBytes: 45,
    });
    const state = 2_600 + 2_100 + 22_100 + 5_000 + 5_000 + 3_000 + (30 + 12) + 30 + 6_700 + 32_000 + 9_000;
    expect(b).to.include({ state, refund: 4_800, gas: 21_000 + state - 4_800 });
    // Ten clears in a transaction of 71,000 gas: 48,000 of refunds, capped at 71,000 / 5.
    expect(lowerBound(tx("0x"), { why: "clears", slotClears: 10 })).to.include({ refund: 14_200, gas: 56_800 });
  });

  it("every unavoidable-access row names a measured operation (a gas snapshot)", function () {
    const snapshots = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "gas-snapshots.json"), "utf8")) as object;
    const unknown = Object.keys(UNAVOIDABLE).filter((operation) => !(operation in snapshots));
    expect(unknown, "operations without a gas snapshot").to.deep.equal([]);
  });

  it("every unavoidable-access row says why and counts something", function () {
    for (const [operation, u] of Object.entries(UNAVOIDABLE)) {
      expect(u.why, operation).to.be.a("string").and.not.equal("");
      expect(
        Object.keys(u).filter((k) => k !== "why"),
        operation,
      ).to.not.be.empty;
    }
  });
});

describe("FastLZ size and the Fjord estimate", function () {
  it("matches the length of Solady's / op-geth's FastLZ on their published vectors", function () {
    expect(flzCompressLength(new Uint8Array(0))).to.equal(0);
    expect(flzCompressLength(hex("facade"))).to.equal(4);
    expect(flzCompressLength(new Uint8Array(1_000).fill(1))).to.equal(21);
    expect(flzCompressLength(new Uint8Array(1_000))).to.equal(21);
    expect(flzCompressLength(hex("dd80808094095e7baea6a6c7c4c2dfeb977efac326af552d878080808080"))).to.equal(31);
    // A signed contract call on OP Mainnet (the op-geth / maili test vector).
    const call = [
      "02f901550a758302df1483be21b88304743f94f80e51afb613d764fa61751affd3313c190a86bb870151bd62fd12adb8e41e",
      "f24f3f000000000000000000000000000000000000000000000000000000000000006e000000000000000000000000af88d0",
      "65e77c8cc2239327c5edb3a432268e5831000000000000000000000000000000000000000000000000000000000003c1e500",
      "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000a000000000000000000000000000000000000000000000000000000000000000148c89ed219d",
      "02f1a5be012c689b4f5b731827bebe000000000000000000000000c001a033fd89cb37c31b2cba46b6466e040c61fc9b2a36",
      "75a7f5f493ebd5ad77c497f8a07cdf65680e238392693019b4092f610222e71b7cec06449cb922b93b6a12744e",
    ].join("");
    expect(flzCompressLength(hex(call))).to.equal(202);
  });

  it("estimates Fjord's size as max(100, −42.5856 + 0.8365 × FastLZ bytes)", function () {
    expect(fjordEstimatedSize(4)).to.equal(100);
    expect(fjordEstimatedSize(202)).to.be.closeTo(126.3874, 1e-9);
  });

  it("signs the measured call as a type-2 transaction with the fixed key and fees, and sizes it", function () {
    const call = tx("0xa9059cbb" + "00".repeat(12) + "11".repeat(20) + "00".repeat(31) + "01");
    const signed = signedL2Transaction(call);
    const decoded = Transaction.from(hexlify(signed));
    expect(decoded.type).to.equal(2);
    expect(decoded.chainId).to.equal(L2_TX.chainId);
    expect(decoded.maxFeePerGas).to.equal(L2_TX.maxFeePerGas);
    expect(decoded.data).to.equal(call.data);
    expect(decoded.from).to.equal(computeAddress(keccak256(toUtf8Bytes("thingledger bench:gas L2 sender"))));
    const size = l2Size(call);
    expect(size.rlpBytes).to.equal(signed.length);
    expect(size.fastlzBytes).to.equal(flzCompressLength(signed));
    expect(size.fjordBytes).to.equal(100); // a transfer is below Fjord's 100-byte minimum
  });
});
