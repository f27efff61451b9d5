import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import fc from "fast-check";
import { ZeroAddress, getAddress } from "ethers";
import { ethers } from "hardhat";

import { packAuthorization, signExecute } from "../../src/eip712/wallet";
import { ETH_LIMIT, WALLET_PERIOD, walletFixture } from "../shared/fixtures";
import type { WalletFixture } from "../shared/fixtures";

const RECIPIENT = getAddress("0x00000000000000000000000000000000000c0ffe");
const STEP = ETH_LIMIT / 10n;

type Op =
  | { kind: "deposit"; tenths: number }
  | { kind: "deviceSpend"; tenths: number }
  | { kind: "ownerTransfer"; tenths: number }
  | { kind: "setLimit"; tenths: number }
  | { kind: "freeze" }
  | { kind: "unfreeze" }
  | { kind: "wait"; seconds: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("deposit" as const), tenths: fc.integer({ min: 1, max: 30 }) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("deviceSpend" as const), tenths: fc.integer({ min: 1, max: 8 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("ownerTransfer" as const), tenths: fc.integer({ min: 1, max: 40 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("setLimit" as const), tenths: fc.integer({ min: 1, max: 15 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "freeze" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "unfreeze" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      seconds: fc.integer({ min: 1, max: Number(WALLET_PERIOD) * 2 }),
    }),
  },
);

async function execute(f: WalletFixture, to: string, value: bigint, data = "0x"): Promise<boolean> {
  const m = { to, value, data, gasLimit: 100_000n, nonce: await f.wallet.nonce() };
  const sigs: Record<string, string> = {};
  for (const o of f.owners.slice(0, 2)) sigs[o.address] = await signExecute(o, f.domain, m);
  const receipt = await (
    await f.wallet.execute(m.to, m.value, m.data, m.gasLimit, packAuthorization(f.sortedOwners, sigs))
  ).wait();
  const executed = receipt!.logs.map((l) => f.wallet.interface.parseLog(l)).find((l) => l?.name === "Executed");
  return executed!.args.success as boolean;
}

/**
 * Over random sequences of deposits, device spends, owner transfers, limit changes, freezes and waits:
 * (1) in every span of one period ending at a device spend, the device spent at most the limit in force
 * at that spend (the sliding-window guarantee, whatever the owners did to the limit), and a spend the
 * window allowed is never refused for the limit; (2) the wallet's ETH balance always equals deposits
 * minus the transfers that happened (device spends and successful owner executions).
 */
describe("DeviceWallet spending limits and balances (property)", function () {
  it("the device never exceeds its limit in any window, and balance = deposits - transfers", async function () {
    this.timeout(600_000);
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const f = await loadFixture(walletFixture);
        const wallet = await f.wallet.getAddress();
        let expected = await ethers.provider.getBalance(wallet);
        let limit = ETH_LIMIT;
        let maxLimit = limit;
        let frozen = false;
        const spends: { at: bigint; amount: bigint }[] = [];
        for (const o of ops) {
          if (o.kind === "deposit") {
            await f.treasury.sendTransaction({ to: wallet, value: BigInt(o.tenths) * STEP });
            expected += BigInt(o.tenths) * STEP;
          } else if (o.kind === "deviceSpend") {
            const amount = BigInt(o.tenths) * STEP;
            const now = BigInt(await time.latest()) + 1n;
            await time.setNextBlockTimestamp(now);
            // What the model says is still allowed: the limit minus spends of this and the last period.
            const index = now / WALLET_PERIOD;
            const used = spends.filter((s) => s.at / WALLET_PERIOD >= index - 1n).reduce((a, s) => a + s.amount, 0n);
            const allowed = !frozen && used + amount <= limit && amount <= expected;
            const tx = f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, amount);
            if (allowed) {
              await tx;
              spends.push({ at: now, amount });
              expected -= amount;
              const window = spends.filter((s) => s.at > now - WALLET_PERIOD).reduce((a, s) => a + s.amount, 0n);
              expect(window).to.be.lessThanOrEqual(limit);
            } else {
              await expect(tx).to.be.reverted;
            }
          } else if (o.kind === "ownerTransfer") {
            const value = BigInt(o.tenths) * STEP;
            const success = await execute(f, RECIPIENT, value);
            expect(success).to.equal(value <= expected);
            if (success) expected -= value;
          } else if (o.kind === "setLimit") {
            limit = BigInt(o.tenths) * STEP;
            if (limit > maxLimit) maxLimit = limit;
            const data = f.wallet.interface.encodeFunctionData("setAllowance", [ZeroAddress, limit]);
            expect(await execute(f, wallet, 0n, data)).to.equal(true);
          } else if (o.kind === "freeze") {
            await f.wallet.connect(f.owners[1]).freezeDevice(f.sortedOwners);
            frozen = true;
          } else if (o.kind === "unfreeze") {
            const data = f.wallet.interface.encodeFunctionData("setFrozen", [false]);
            expect(await execute(f, wallet, 0n, data)).to.equal(true);
            frozen = false;
          } else {
            await time.increase(o.seconds);
          }
          expect(await ethers.provider.getBalance(wallet)).to.equal(expected);
        }
        // Every span of one period starting at a spend, against the largest limit ever in force.
        for (const s of spends) {
          const window = spends
            .filter((x) => x.at >= s.at && x.at < s.at + WALLET_PERIOD)
            .reduce((a, x) => a + x.amount, 0n);
          expect(window).to.be.lessThanOrEqual(maxLimit);
        }
      }),
      { numRuns: 20 },
    );
  });
});
