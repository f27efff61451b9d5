import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { loadFixture, setBalance } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, ZeroHash, id, keccak256, solidityPacked, toUtf8Bytes } from "ethers";
import fc from "fast-check";

type Signer = HardhatEthersSigner | Wallet;
import { ethers } from "hardhat";

import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";

/**
 * Outside attack review of fix/gas20c (issue 20), fee side: the per-manufacturer `counted` field and
 * `collectFeesPaidFromCredit`. Each "attack:" test states what an attacker tries and asserts what happened.
 */
const ROOT = id("reports");

async function totalCreditOf(f: Awaited<ReturnType<typeof registryFixture>>): Promise<bigint> {
  // pool = balance - totalCredit - reserved, so totalCredit = balance - pool - reserved.
  const balance = await f.token.balanceOf(await f.registry.getAddress());
  return balance - (await f.registry.rewardPool()) - (await f.registry.rewardsReserved());
}

/** The fixture's manufacturer registers `count` devices (ids from `first`) in one batch (from its credit first). */
function registerBatch(f: Awaited<ReturnType<typeof registryFixture>>, count: number, first: number) {
  const ds = Array.from({ length: count }, (_, i) => testDevice(first + i));
  return f.registry.connect(f.maker).registerDevices(
    REGISTRATION_FEE,
    ds.map((d) => d.deviceId),
    ds.map((d) => d.wallet.address),
    ds.map(() => 1),
  );
}

describe("attack review 20c: fee credit and the reward pool", function () {
  it("FINDING (low, fixed off chain): fees paid from credit are invisible to a refill until collected, so a bare updateScores loses that reward; collecting first pays it (the auditor's submission does: CollectForRewards.test.ts)", async function () {
    const f = await loadFixture(registryFixture);
    const auditor = (await ethers.getSigners())[8];
    await f.registry.connect(f.admin).addAuditor(auditor.address);
    // Every fee so far was paid from credit: 3 devices x (1 + 2) THING = 9 THING spent.
    const devices = [0, 1, 2].map((i) => testDevice(3000 + i));
    for (const d of devices) {
      await f.registry
        .connect(f.maker)
        .registerAndActivate(REGISTRATION_FEE + ACTIVATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash, f.alice);
    }
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(9n * ONE);
    // On main the pool would be 9 THING here; on the branch it is 0.
    expect(await f.registry.rewardPool()).to.equal(0n);
    const epoch = await f.registry.currentEpoch();
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    await expect(f.registry.connect(auditor).updateScores(entries, epoch, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(auditor.address, epoch, ROOT, 3, 3n, 0n); // 3 changes, 0 rewarded
    expect((await f.registry.auditorInfo(auditor.address)).earned).to.equal(0n);
    // Anyone collects afterwards: the pool now holds the 9 THING, but the devices were already changed
    // this epoch, so the auditor cannot be paid for this work any more.
    await f.registry.connect(f.mallory).collectFeesPaidFromCredit([f.maker.address]);
    expect(await f.registry.rewardPool()).to.equal(9n * ONE);
    await expect(f.registry.connect(auditor).updateScores(entries, epoch, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(auditor.address, epoch, ROOT, 3, 0n, 0n);
    expect((await f.registry.auditorInfo(auditor.address)).earned).to.equal(0n);
    // The fix: an auditor that collects first is paid (src/reputation/scores.ts collectForRewards does).
    const more = [3, 4].map((i) => testDevice(3000 + i));
    for (const d of more) {
      await f.registry
        .connect(f.maker)
        .registerAndActivate(REGISTRATION_FEE + ACTIVATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash, f.alice);
    }
    await f.registry.connect(auditor).collectFeesPaidFromCredit([f.maker.address]);
    await expect(
      f.registry.connect(auditor).updateScores(
        more.map((d) => ({ deviceId: d.deviceId, score: 1, trend: 0 })),
        epoch,
        ROOT,
        2,
      ),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(auditor.address, epoch, ROOT, 2, 2n, 2n);
  });

  it("attack: the admin has no path to a manufacturer's credit or an auditor's earned rewards without their own call", async function () {
    const f = await loadFixture(registryFixture);
    const registry = await f.registry.getAddress();
    // The admin calling the withdrawals moves only its own (empty) records.
    await expect(f.registry.connect(f.admin).withdrawFeeCredit())
      .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
      .withArgs(f.admin.address);
    await expect(f.registry.connect(f.admin).withdrawAuditorReward()).to.be.revertedWithCustomError(
      f.registry,
      "NothingToWithdraw",
    );
    // ERC-2771: a suffix naming the maker is honoured only from the token (the trusted forwarder).
    const data = f.registry.interface.encodeFunctionData("withdrawFeeCredit");
    await expect(
      f.admin.sendTransaction({ to: registry, data: solidityPacked(["bytes", "address"], [data, f.maker.address]) }),
    )
      .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
      .withArgs(f.admin.address);
    // Through the token, the token appends the real caller, after any suffix the caller appended.
    await expect(
      f.token
        .connect(f.admin)
        .approveAndCall(registry, 0, solidityPacked(["bytes", "address"], [data, f.maker.address])),
    )
      .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
      .withArgs(f.admin.address);
    // An auditor removed by the admin keeps its earned rewards; only the unspent budget returns to the pool.
    const auditor = (await ethers.getSigners())[8];
    await f.registry.connect(f.admin).addAuditor(auditor.address);
    await f.token.connect(f.mallory).transfer(registry, 50n * ONE); // a pool to pay from
    const d = testDevice(3100);
    await f.registry
      .connect(f.maker)
      .registerAndActivate(REGISTRATION_FEE + ACTIVATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash, f.alice);
    const epoch = await f.registry.currentEpoch();
    await f.registry.connect(auditor).updateScore(d.deviceId, 10, 0, epoch, ROOT, 1);
    const earned = (await f.registry.auditorInfo(auditor.address)).earned;
    expect(earned).to.be.greaterThan(0n);
    await f.registry.connect(f.admin).removeAuditor(auditor.address);
    expect(await f.registry.rewardsReserved()).to.equal(earned);
    await expect(f.registry.connect(auditor).withdrawAuditorReward()).to.changeTokenBalance(f.token, auditor, earned);
  });

  it("attack: withdrawing twice, withdrawing from a rotated-away account, collecting twice or with duplicates gets nothing back twice", async function () {
    const f = await loadFixture(registryFixture);
    const [newAccount] = (await ethers.getSigners()).slice(9, 10);
    // Spend 30 of the 100 from credit.
    await registerBatch(f, 30, 3200);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(30n * ONE);
    // Duplicates, unknown and zero addresses in one collection: the spent 30 counted once.
    const list = [f.maker.address, f.maker.address, f.mallory.address, ethers.ZeroAddress, f.maker.address];
    expect(await f.registry.collectFeesPaidFromCredit.staticCall(list)).to.equal(30n * ONE);
    const tx = await f.registry.connect(f.mallory).collectFeesPaidFromCredit(list);
    const receipt = await tx.wait();
    const collected = receipt!.logs.filter(
      (l) => l.topics[0] === f.registry.interface.getEvent("PaidFeesCollected").topicHash,
    );
    expect(collected.length).to.equal(1);
    expect(await f.registry.collectFeesPaidFromCredit.staticCall(list)).to.equal(0n);
    expect(await f.registry.rewardPool()).to.equal(30n * ONE);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(70n * ONE);
    // Spend 10 more, rotate the account: the uncollected 10 and the credit follow the id.
    await f.registry
      .connect(f.maker)
      .registerDevices(10n * REGISTRATION_FEE, [testDevice(3300).deviceId], [testDevice(3300).wallet.address], [1]);
    await f.registry.connect(f.admin).setFees(10n * ONE, ACTIVATION_FEE);
    await f.registry
      .connect(f.maker)
      .registerDevices(10n * ONE, [testDevice(3301).deviceId], [testDevice(3301).wallet.address], [1]);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(11n * ONE);
    await f.registry.connect(f.maker).proposeManufacturerAccount(newAccount.address);
    await f.registry.connect(newAccount).acceptManufacturerAccount(1);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect(await f.registry.uncollectedPaidFees(newAccount.address)).to.equal(11n * ONE);
    expect(await f.registry.collectFeesPaidFromCredit.staticCall([f.maker.address])).to.equal(0n);
    await expect(f.registry.connect(f.maker).withdrawFeeCredit()).to.be.revertedWithCustomError(
      f.registry,
      "NothingToWithdraw",
    );
    // The new account withdraws 59 (100 - 30 - 1 - 10) once; the 11 spent join the pool at the withdrawal.
    await expect(f.registry.connect(newAccount).withdrawFeeCredit()).to.changeTokenBalance(
      f.token,
      f.makerPayout,
      59n * ONE,
    );
    await expect(f.registry.connect(newAccount).withdrawFeeCredit()).to.be.revertedWithCustomError(
      f.registry,
      "NothingToWithdraw",
    );
    expect(await f.registry.rewardPool()).to.equal(41n * ONE);
    expect(await totalCreditOf(f)).to.equal(0n);
    // The old account, re-admitted, is a new manufacturer with nothing.
    await f.registry.connect(f.admin).addManufacturer(f.maker.address, f.maker.address, 1);
    expect((await f.registry.getManufacturer(f.maker.address)).id).to.equal(2n);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(0n);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
  });

  it("attack: registering without paying (no credit, partial credit, no allowance) is refused or pulls exactly the shortfall", async function () {
    const f = await loadFixture(registryFixture);
    const registry = await f.registry.getAddress();
    // Spend 99 of 100 from credit, leaving 1 THING.
    await registerBatch(f, 99, 3400);
    // Remove the allowance: a 3-device batch with 1 THING of credit must fail.
    await f.token.connect(f.maker).approve(registry, 0);
    await expect(registerBatch(f, 3, 3500)).to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance");
    await f.token.connect(f.maker).approve(registry, ethers.MaxUint256);
    await expect(registerBatch(f, 3, 3500)).to.changeTokenBalance(f.token, f.maker, -2n * ONE);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(0n);
    // The spent 100 are all uncollected; the pulled 2 are in the pool at once.
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(100n * ONE);
    expect(await f.registry.rewardPool()).to.equal(2n * ONE);
    // With zero credit, withdraw refuses; collecting still counts the 100.
    await expect(f.registry.connect(f.maker).withdrawFeeCredit()).to.be.revertedWithCustomError(
      f.registry,
      "NothingToWithdraw",
    );
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    expect(await f.registry.rewardPool()).to.equal(102n * ONE);
    expect(await totalCreditOf(f)).to.equal(0n);
  });

  it("attack: a zero deposit by a stranger, a removed manufacturer's deposit and re-admission keep totalCredit = sum of counted", async function () {
    const f = await loadFixture(registryFixture);
    await registerBatch(f, 5, 3600);
    // A stranger deposits 0 for the maker: counts the 5 spent, changes no credit.
    await f.token.connect(f.mallory).approve(await f.registry.getAddress(), ethers.MaxUint256);
    await f.registry.connect(f.mallory).depositFeeCredit(f.maker.address, 0);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(95n * ONE);
    expect(await f.registry.rewardPool()).to.equal(5n * ONE);
    await f.registry
      .connect(f.maker)
      .registerDevices(REGISTRATION_FEE, [testDevice(3700).deviceId], [testDevice(3700).wallet.address], [1]);
    await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
    // A removed manufacturer's spent fee is still collectable; a deposit to it is accepted and counted.
    await f.registry.connect(f.mallory).depositFeeCredit(f.maker.address, 7n * ONE);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect(await totalCreditOf(f)).to.equal(101n * ONE);
    await f.registry.connect(f.admin).addManufacturer(f.maker.address, f.makerPayout.address, 1);
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(101n * ONE);
    expect(await totalCreditOf(f)).to.equal(101n * ONE);
    expect(await f.registry.rewardPool()).to.equal(6n * ONE);
  });

  it("attack (property): random deposits, spends, rotations, removals, re-admissions, collections and rewards never break balance = credit + uncollected + pool + reserved", async function () {
    this.timeout(600_000);
    type Op =
      | { kind: "deposit"; who: number; by: number; amount: number }
      | { kind: "spend"; who: number; count: number }
      | { kind: "activate"; who: number }
      | { kind: "withdraw"; who: number }
      | { kind: "collect"; list: number[] }
      | { kind: "rotate"; who: number }
      | { kind: "remove"; who: number }
      | { kind: "readmit"; who: number }
      | { kind: "fees"; reg: number }
      | { kind: "audit"; n: number }
      | { kind: "auditorWithdraw" }
      | { kind: "donate"; amount: number };
    const who = fc.integer({ min: 0, max: 2 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("deposit" as const),
        who,
        by: fc.integer({ min: 0, max: 1 }),
        amount: fc.integer({ min: 0, max: 30 }),
      }),
      fc.record({ kind: fc.constant("spend" as const), who, count: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant("activate" as const), who }),
      fc.record({ kind: fc.constant("withdraw" as const), who }),
      fc.record({
        kind: fc.constant("collect" as const),
        list: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 6 }),
      }),
      fc.record({ kind: fc.constant("rotate" as const), who }),
      fc.record({ kind: fc.constant("remove" as const), who }),
      fc.record({ kind: fc.constant("readmit" as const), who }),
      fc.record({ kind: fc.constant("fees" as const), reg: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant("audit" as const), n: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant("auditorWithdraw" as const) }),
      fc.record({ kind: fc.constant("donate" as const), amount: fc.integer({ min: 1, max: 3 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const f = await loadFixture(registryFixture);
        const signers = await ethers.getSigners();
        const registry = await f.registry.getAddress();
        const auditor = signers[8];
        await f.registry.connect(f.admin).addAuditor(auditor.address);
        // Three manufacturers (ids 1..3), each a chain of accounts (rotation moves to a fresh signer).
        let nextSigner = 0;
        const take = async (): Promise<Signer> => {
          const w = new Wallet(keccak256(toUtf8Bytes(`attack20c-${nextSigner++}`)), ethers.provider);
          await setBalance(w.address, 10n ** 20n);
          return w;
        };
        const current: Signer[] = [f.maker];
        const everyAccount: string[] = [f.maker.address];
        for (let i = 1; i < 3; i++) {
          const s = await take();
          await f.registry.connect(f.admin).addManufacturer(s.address, s.address, 1);
          current.push(s);
          everyAccount.push(s.address);
        }
        const fund = async (s: Signer) => {
          await f.token.transfer(s.address, 1_000n * ONE);
          await f.token.connect(s).approve(registry, ethers.MaxUint256);
        };
        for (const s of current.slice(1)) await fund(s);
        await fund(f.mallory);
        let deviceIndex = 0;
        const active: string[] = [];
        const activeOf = new Map<number, boolean>([
          [0, true],
          [1, true],
          [2, true],
        ]);
        for (const o of ops) {
          if (o.kind === "deposit") {
            const payer = o.by === 0 ? current[o.who] : f.mallory;
            await f.registry.connect(payer).depositFeeCredit(current[o.who].address, BigInt(o.amount) * ONE);
          } else if (o.kind === "spend") {
            if (!activeOf.get(o.who)) continue;
            const ds = Array.from({ length: o.count }, () => testDevice(5000 + deviceIndex++, 1, o.who + 1));
            await f.registry.connect(current[o.who]).registerDevices(
              100n * ONE,
              ds.map((d) => d.deviceId),
              ds.map((d) => d.wallet.address),
              ds.map(() => 1),
            );
          } else if (o.kind === "activate") {
            if (!activeOf.get(o.who)) continue;
            const d = testDevice(5000 + deviceIndex++, 1, o.who + 1);
            await f.registry
              .connect(current[o.who])
              .registerAndActivate(200n * ONE, d.deviceId, d.wallet.address, 1, ZeroHash, f.alice.address);
            active.push(d.deviceId);
          } else if (o.kind === "withdraw") {
            const { credit } = await f.registry.getManufacturer(current[o.who].address);
            if (credit === 0n) continue;
            await f.registry.connect(current[o.who]).withdrawFeeCredit();
          } else if (o.kind === "collect") {
            // Indexes 0..2: current accounts; 3..6: any account ever used (rotated-away ones included) or a stranger.
            const all = [...current.map((s) => s.address), ...everyAccount, f.mallory.address];
            const list = o.list.map((i) => all[i % all.length]);
            const expected = (
              await Promise.all([...new Set(list)].map((a) => f.registry.uncollectedPaidFees(a)))
            ).reduce((a, b) => a + b, 0n);
            expect(await f.registry.collectFeesPaidFromCredit.staticCall(list)).to.equal(expected);
            await f.registry.connect(f.mallory).collectFeesPaidFromCredit(list);
          } else if (o.kind === "rotate") {
            if (!activeOf.get(o.who)) continue;
            const s = await take();
            await fund(s);
            await f.registry.connect(current[o.who]).proposeManufacturerAccount(s.address);
            await f.registry.connect(s).acceptManufacturerAccount(o.who + 1);
            current[o.who] = s;
            everyAccount.push(s.address);
          } else if (o.kind === "remove") {
            if (!activeOf.get(o.who)) continue;
            await f.registry.connect(f.admin).removeManufacturer(current[o.who].address);
            activeOf.set(o.who, false);
          } else if (o.kind === "readmit") {
            if (activeOf.get(o.who)) continue;
            await f.registry.connect(f.admin).addManufacturer(current[o.who].address, current[o.who].address, 2);
            activeOf.set(o.who, true);
          } else if (o.kind === "fees") {
            await f.registry.connect(f.admin).setFees(BigInt(o.reg) * ONE, ACTIVATION_FEE);
          } else if (o.kind === "audit") {
            const picks = active.slice(-o.n);
            if (picks.length === 0) continue;
            const epoch = await f.registry.currentEpoch();
            await f.registry.connect(auditor).updateScores(
              picks.map((deviceId, i) => ({ deviceId, score: (deviceIndex * 7 + i) % 1001, trend: (i % 3) - 1 })),
              epoch,
              ROOT,
              picks.length,
            );
          } else if (o.kind === "auditorWithdraw") {
            if ((await f.registry.auditorInfo(auditor.address)).earned === 0n) continue;
            await f.registry.connect(auditor).withdrawAuditorReward();
          } else {
            await f.token.connect(f.mallory).transfer(registry, BigInt(o.amount) * ONE);
          }
          // Invariants: the pool never reverts; totalCredit is exactly the sum of every record's counted
          // credit (credit + uncollected), over current accounts only (rotated-away ones hold nothing).
          let sumCredit = 0n;
          let sumUncollected = 0n;
          for (const s of current) {
            sumCredit += (await f.registry.getManufacturer(s.address)).credit;
            sumUncollected += await f.registry.uncollectedPaidFees(s.address);
          }
          for (const a of everyAccount) {
            if (current.some((s) => s.address === a)) continue;
            expect((await f.registry.getManufacturer(a)).credit).to.equal(0n);
            expect(await f.registry.uncollectedPaidFees(a)).to.equal(0n);
          }
          const balance = await f.token.balanceOf(registry);
          const rewardPool = await f.registry.rewardPool();
          const reserved = await f.registry.rewardsReserved();
          expect(balance).to.equal(sumCredit + sumUncollected + rewardPool + reserved);
        }
        // Everyone can get everything out: collect all, each manufacturer withdraws, the auditor withdraws.
        await f.registry.collectFeesPaidFromCredit(current.map((s) => s.address));
        for (const s of current) {
          if ((await f.registry.getManufacturer(s.address)).credit !== 0n)
            await f.registry.connect(s).withdrawFeeCredit();
        }
        if ((await f.registry.auditorInfo(auditor.address)).earned !== 0n) {
          await f.registry.connect(auditor).withdrawAuditorReward();
        }
        expect(await totalCreditOf(f)).to.equal(0n);
      }),
      { numRuns: 40 },
    );
  });
});
