import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { ContractRunner, TransactionRequest } from "ethers";
import { ethers } from "hardhat";

import { STATUS_BATCH } from "../../src/devices/fleet";
import { previewFleet } from "../../src/registry/preview";
import { startRun } from "../../src/registry/register";
import { ONE, REGISTRATION_FEE, fleetDevices, registryContext, registryFixture } from "../shared/fixtures";
import { coverageRunning } from "../shared/gas";

/** `device:register --dry-run` of a fleet larger than one status read (STATUS_BATCH ids). */
describe("previewFleet (the registration's dry run)", function () {
  this.timeout(300_000);

  it("reads a fleet larger than one batch in STATUS_BATCH-id calls, and previews exactly its unregistered devices", async function () {
    // Under coverage, estimating three 200-device registrations through instrumented bytecode takes
    // longer than the timeout (stop 26's CI); the dry run is TypeScript, and its contract calls are
    // covered by the registration tests.
    if (coverageRunning()) this.skip();
    const f = await loadFixture(registryFixture);
    const size = STATUS_BATCH + 3;
    const devices = fleetDevices(size, 70_000);
    // Registered already: two in the first batch of ids, one in the second.
    const done = [devices[0], devices[1], devices[size - 1]];
    await (
      await f.registry.connect(f.maker).registerDevices(
        REGISTRATION_FEE,
        done.map((d) => d.deviceId),
        done.map((d) => d.deviceKey),
        done.map((d) => d.deviceType),
      )
    ).wait();

    // Every getStatuses read the dry run makes, by its number of ids.
    const reads: number[] = [];
    const selector = f.registry.interface.getFunction("getStatuses").selector;
    const maker = new Proxy(f.maker, {
      get(target, property, receiver) {
        if (property === "call")
          return (tx: TransactionRequest) => {
            const data = String(tx.data ?? "");
            if (data.startsWith(selector))
              reads.push((f.registry.interface.decodeFunctionData("getStatuses", data)[0] as string[]).length);
            return target.call(tx);
          };
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as ContractRunner as typeof f.maker;
    const ctx = await registryContext(f);
    const options = { merkle: false as const, batchSize: 200 };
    const { run, id } = await startRun(ctx, maker, devices, options);
    const block = await ethers.provider.getBlockNumber();
    const { credit } = await f.registry.getManufacturer(f.maker.address);
    const preview = await previewFleet(run, id, options);

    expect(reads).to.deep.equal([STATUS_BATCH, 3]);
    expect(preview).to.include({ mode: "batch", devices: size, registering: size - 3 });
    expect(preview.fees).to.equal(BigInt(size - 3) * REGISTRATION_FEE);
    // The maker's credit (97 THING) is short of 500 fees: a top-up, then 200 + 200 + 100 devices.
    expect(preview.transactions.map((t) => t.action)).to.deep.equal([
      "fee credit top-up",
      "register 200 device(s)",
      "register 200 device(s)",
      "register 100 device(s)",
    ]);
    expect(credit).to.equal(97n * ONE);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(credit);
    expect(await ethers.provider.getBlockNumber()).to.equal(block);
  });
});
