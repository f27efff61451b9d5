import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";

import { UserError } from "../../src/errors";
import { registerFleet } from "../../src/registry/register";
import { fleetDevices, registryContext, registryFixture } from "../shared/fixtures";

/** A signal that reads "aborted" after `after` checks (one before the top-up, then one per batch): a Ctrl-C at that point. */
function abortedFrom(after: number): AbortSignal {
  let checks = 0;
  return {
    get aborted() {
      return ++checks > after;
    },
  } as AbortSignal;
}

describe("device:register interrupted (Ctrl-C): stops after the batch in flight and says where", function () {
  it("the batches stop at the next boundary; the registered ones stay, the rest are not sent, and a re-run resumes", async function () {
    const f = await loadFixture(registryFixture);
    const devices = fleetDevices(6, 90_000);
    const ctx = await registryContext(f);
    const options = { merkle: false as const, batchSize: 2, showProgress: false };
    await expect(registerFleet(ctx, f.maker, devices, { ...options, signal: abortedFrom(2) })).to.be.rejectedWith(
      UserError,
      "interrupted: 2 of 6 devices registered, the rest not sent; re-run the same command to resume",
    );
    const statuses = await f.registry.getStatuses(devices.map((d) => d.deviceId));
    expect(statuses.map(Number)).to.deep.equal([1, 1, 0, 0, 0, 0]);
    const resumed = await registerFleet(ctx, f.maker, devices, options);
    expect(resumed).to.include({ registered: 4, skipped: 2, transactions: 2 });
    expect((await f.registry.getStatuses(devices.map((d) => d.deviceId))).map(Number)).to.deep.equal([
      1, 1, 1, 1, 1, 1,
    ]);
  });

  it("a Ctrl-C before the first transaction (while statuses are read or the whitelist is built) sends nothing: no top-up, no commit", async function () {
    const f = await loadFixture(registryFixture);
    const devices = fleetDevices(3, 91_000);
    const ctx = await registryContext(f);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-interrupt-"));
    try {
      const block = await ethers.provider.getBlockNumber();
      await expect(
        registerFleet(ctx, f.maker, devices, {
          merkle: false,
          batchSize: 2,
          showProgress: false,
          signal: abortedFrom(0),
        }),
      ).to.be.rejectedWith(
        UserError,
        "interrupted before anything was sent: nothing registered, nothing charged; re-run the same command to resume",
      );
      await expect(
        registerFleet(ctx, f.maker, devices, {
          merkle: true,
          whitelistOut: path.join(dir, "whitelist.json"),
          showProgress: false,
          signal: abortedFrom(0),
        }),
      ).to.be.rejectedWith(UserError, "interrupted before anything was sent: no whitelist committed, nothing charged");
      expect(await ethers.provider.getBlockNumber()).to.equal(block);
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
