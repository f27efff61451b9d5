import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import hre from "hardhat";

import { MAX_RUNTIME_SIZE, runtimeSizes } from "../../src/bench/bytecode";
import { coverageRunning } from "../shared/gas";

/**
 * Runtime bytecode size snapshots, as Uniswap keeps them: every deployable contract's deployed size is
 * compared with `test/bytecode-sizes.json`, so growth cannot land unnoticed. `UPDATE_GAS_SNAPSHOTS=1`
 * (`npm run test:update-gas`) rewrites the file, like the gas snapshots.
 */
const SIZES_FILE = path.join(__dirname, "..", "bytecode-sizes.json");

describe("runtime bytecode sizes [gas]", function () {
  // `hardhat test` compiles first, so the artifacts are the sources' own.
  before(function () {
    if (coverageRunning()) this.skip();
  });

  it("every deployable contract's runtime size equals its snapshot and fits EIP-170", function () {
    const measured = runtimeSizes(hre.config.paths.artifacts);
    for (const name of ["DeviceRegistry", "DeviceWallet", "DeviceWalletFactory", "PaymentChannels", "ThingToken"]) {
      expect(measured, "deployable contracts").to.have.property(name);
    }
    for (const [name, bytes] of Object.entries(measured)) {
      expect(bytes, `${name} is over the EIP-170 limit`).to.be.at.most(MAX_RUNTIME_SIZE);
    }
    if (process.env.UPDATE_GAS_SNAPSHOTS === "1") {
      fs.writeFileSync(SIZES_FILE, `${JSON.stringify(measured, null, 2)}\n`);
      return;
    }
    const stored = JSON.parse(fs.readFileSync(SIZES_FILE, "utf8")) as Record<string, number>;
    expect(measured, "runtime bytecode sizes changed; if intended run `npm run test:update-gas`").to.deep.equal(stored);
  });
});
