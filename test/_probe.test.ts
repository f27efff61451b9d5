import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ZeroHash } from "ethers";
import { signActivation } from "../src/eip712/device";
import { registryFixture, testDevice } from "./shared/fixtures";
describe("probe", function () {
  it("p", async function () {
    for (const fee of [0n, 2n * 10n ** 18n]) {
      const f = await loadFixture(registryFixture);
      await f.registry.connect(f.admin).setFees(10n ** 18n, fee);
      const d = testDevice(1);
      await f.registry.connect(f.maker).registerDevice(d.deviceId, d.wallet.address, 1, ZeroHash);
      const sig = await signActivation(d.wallet, f.domain, {
        deviceId: d.deviceId,
        owner: f.alice.address,
        deadline: 4_102_444_800n,
      });
      const tx = await f.registry.connect(f.alice).activateDevice(d.deviceId, f.alice.address, 4_102_444_800n, sig);
      console.log("fee", fee, (await tx.wait())!.gasUsed, "calldata bytes", (tx.data.length - 2) / 2);
    }
  });
});
