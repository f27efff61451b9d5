import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { getAddress } from "ethers";
import hre from "hardhat";

import { tokenAt } from "../../src/chain/context";
import { loadSystem } from "../../tasks/support/deployments";
import { printedBy } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

const SPENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/** Issue 17, outside review round 2: small command-line input fixes. In-process, through hre.run. */
describe("inputs: careless command-line values get one line and change nothing (in-process)", function () {
  this.timeout(300_000);
  let scratch: string;
  before(function () {
    // hre.run compiles first, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-inputs-"));
  });
  after(() => {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function failure(name: string, args: Record<string, unknown>): Promise<string> {
    const error = (await hre.run(name, args).catch((e: unknown) => e)) as Error | undefined;
    expect(error, `${name} should fail`).to.be.instanceOf(Error);
    return (error as Error).message;
  }

  it("token:permit refuses a deadline inside permit-submit's 60 s margin and writes nothing; a valid one submits and prints THING", async function () {
    const out = path.join(scratch, "short.json");
    expect(await failure("token:permit", { spender: SPENDER, amount: "5", out, deadline: "30s" })).to.match(
      /^deadline \d+ is 30 s after the next block \(time \d+\); token:permit-submit needs more than 60 s to spare: choose a later deadline \(e\.g\. 1h\)$/,
    );
    expect(fs.existsSync(out)).to.equal(false);
    const file = path.join(scratch, "permit.json");
    await printedBy(() => hre.run("token:permit", { spender: SPENDER, amount: "5", out: file }));
    const text = await printedBy(() => hre.run("token:permit-submit", { file }));
    expect(text.split("\n")[0]).to.match(
      /^Permit submitted: 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 may now spend 5\.0 THING of 0x/,
    );
  });

  it("a device named by 0x-hex of the wrong length is refused with the device-id line", async function () {
    expect(await failure("reputation:show", { device: "0x1234" })).to.equal(
      '"0x1234" is not a device id (2 bytes): a device id is 0x and 64 hex digits (32 bytes)',
    );
  });

  it("token:transfer to one of the system's own contracts is refused, naming the way in; nothing is sent", async function () {
    const system = await loadSystem(hre, ["ThingToken", "DeviceRegistry", "PaymentChannels", "DeviceWalletFactory"]);
    const token = tokenAt(system);
    const [sender] = await hre.ethers.getSigners();
    const block = await hre.ethers.provider.getBlockNumber();
    const held = await token.balanceOf(sender.address);
    const cases: [string, string][] = [
      [system.addresses.ThingToken, "the token itself, which cannot send it back"],
      [system.addresses.DeviceRegistry, "the registry, which takes fees only through device:register"],
      [
        system.addresses.PaymentChannels.toLowerCase(),
        "the channels contract, which takes deposits only through channel:open or channel:topup",
      ],
      [system.addresses.DeviceWalletFactory, "the wallet factory; fund a device wallet with wallet:fund"],
    ];
    for (const [to, what] of cases) {
      expect(await failure("token:transfer", { to, amount: "1" }), to).to.equal(
        `${getAddress(to)} is ${what}: THING sent there would be trapped; nothing was sent`,
      );
    }
    expect(await token.balanceOf(sender.address)).to.equal(held);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
  });

  it("access:buy --help gives a URL for --as and a keystore file for --keystore", function () {
    const params = hre.tasks["access:buy"].paramDefinitions;
    expect(params.as.description).to.match(/ \(e\.g\. http:\/\/127\.0\.0\.1:8088\)$/);
    expect(params.keystore.description).to.match(/ \(e\.g\. data\/clients\/0x[0-9a-f]{40}\.json\)$/);
  });
});
