import { expect } from "chai";
import { Wallet } from "ethers";
import type { HDNodeWallet } from "ethers";
import { ethers, network } from "hardhat";

import { signActivation, signActivationPayment } from "../../src/eip712/device";
import { readDomain } from "../../src/eip712/domain";
import { signPermit } from "../../src/eip712/permit";
import { Rejected } from "../../src/http/errors";
import { activationLink, relayRequestOf } from "../../src/registry/activation-link";
import type { RelayRequest } from "../../src/registry/activation-link";
import { relayArgs } from "../../src/relay/checks";
import { openRelayer } from "../../src/relay/serve";
import type { RelayService } from "../../src/relay/service";
import { ACTIVATION_FEE, ONE, registryContext, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture } from "../shared/fixtures";
import { coverageRunning } from "../shared/gas";

/*
 * An outsider's attacks on the activation relayer (src/relay/), in process: the service's `relay` is called
 * directly against the in-process network, automining off where a race needs a pending transaction.
 * A passing test is a defence that held; "found and fixed" tests assert the correct behaviour and failed on the code as reviewed.
 */

type Key = Wallet | HDNodeWallet;

describe("relayer attacks (src/relay, in process)", function () {
  this.timeout(120_000);

  // The relayer is TypeScript, which coverage does not measure; its races rest on RPC timeouts (1-5 s) that the
  // instrumented network's slow calls overrun (CI: 12 failures under coverage, 0 in `npm test`).
  before(function () {
    if (coverageRunning()) this.skip();
  });

  let f: RegistryFixture;
  let service: RelayService;
  let relayerAddress: string;
  let next = 9000;

  async function relayer(policy: { maxFee: bigint; maxGasPrice?: bigint } = { maxFee: 10n * ONE }) {
    const ctx = await registryContext(f);
    service = await openRelayer(ctx, f.relayer, { policy, receiptTimeoutSeconds: 20 });
    relayerAddress = f.relayer.address;
  }

  beforeEach(async function () {
    f = await registryFixture();
    await relayer();
  });

  afterEach(async function () {
    await network.provider.send("evm_setAutomine", [true]);
  });

  /** `count` new devices of the maker, registered. */
  async function devices(count: number) {
    const ds = Array.from({ length: count }, () => testDevice(next++));
    await f.registry.connect(f.maker).registerDevices(
      100n * ONE,
      ds.map((d) => d.deviceId),
      ds.map((d) => d.wallet.address),
      ds.map(() => 1),
    );
    return ds;
  }

  /** A new owner with `thing` THING and no ETH. */
  async function owner(thing: bigint): Promise<Key> {
    const w = Wallet.createRandom();
    await f.token.connect(f.maker).transfer(w.address, thing);
    return w;
  }

  async function relayRequest(
    d: { deviceId: string; wallet: Key },
    who: Key,
    o: { maxFee?: bigint; deviceOwner?: string; consentKey?: Key } = {},
  ): Promise<RelayRequest> {
    const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
    const maxFee = o.maxFee ?? ACTIVATION_FEE;
    const deadline = now + 3600n;
    const tokenDomain = await readDomain(f.token);
    const signature = await signActivation(d.wallet, f.domain, {
      deviceId: d.deviceId,
      owner: o.deviceOwner ?? who.address,
      deadline,
    });
    const permit = await signPermit(who, tokenDomain, {
      owner: who.address,
      spender: await f.registry.getAddress(),
      value: maxFee,
      nonce: await f.token.nonces(who.address),
      deadline,
    });
    const consent = await signActivationPayment(o.consentKey ?? who, f.domain, {
      deviceId: d.deviceId,
      owner: who.address,
      maxFee,
      deadline,
    });
    return {
      kind: "thingledger/relay-activation",
      chainId: Number(f.chainId),
      registry: await f.registry.getAddress(),
      activation: activationLink({ deviceId: d.deviceId, owner: who.address, deadline, signature }),
      maxFee: maxFee.toString(),
      ownerDeadline: deadline.toString(),
      permit,
      consent,
    };
  }

  async function refusal(p: Promise<unknown>): Promise<Rejected> {
    try {
      await p;
    } catch (error) {
      if (error instanceof Rejected) return error;
      throw error;
    }
    expect.fail("relayed");
  }

  /** Mines once `count` transactions are pending (automine off), at most `ms`. */
  async function mineWhenPending(count: number, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const block = (await network.provider.send("eth_getBlockByNumber", ["pending", false])) as {
        transactions: string[];
      };
      if (block.transactions.length >= count) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await network.provider.send("evm_mine", []);
  }

  /** Waits (at most 10 s) until the relayer has a pending transaction. */
  async function waitPending(): Promise<void> {
    const end = Date.now() + 10_000;
    while (
      (await ethers.provider.getTransactionCount(relayerAddress, "pending")) ===
        (await ethers.provider.getTransactionCount(relayerAddress)) &&
      Date.now() < end
    )
      await new Promise((r) => setTimeout(r, 50));
  }

  /** The in-process provider hardhat-ethers sends through, and its own `send` (to intercept and restore). */
  function rpc() {
    const provider = (
      ethers.provider as unknown as { _hardhatProvider: { send: (m: string, p?: unknown[]) => Promise<unknown> } }
    )._hardhatProvider;
    return { provider, original: provider.send.bind(provider) };
  }

  /** Counts the JSON-RPC calls `run` makes through the in-process provider (hardhat-ethers' `send`). */
  async function rpcCalls(run: () => Promise<unknown>): Promise<string[]> {
    const { provider, original } = rpc();
    const calls: string[] = [];
    provider.send = (m, p) => {
      calls.push(m);
      return original(m, p);
    };
    try {
      await run().catch(() => undefined);
    } finally {
      provider.send = original;
    }
    return calls;
  }

  it("attack: the owner's permit submitted first by a front-runner does not stop the relay (the allowance it left pays)", async function () {
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const body = await relayRequest(d, who);
    const sig = ethers.Signature.from(body.permit);
    // The attacker (mallory) spends the owner's permit nonce himself.
    await f.token
      .connect(f.mallory)
      .permit(who.address, f.registry, ACTIVATION_FEE, BigInt(body.ownerDeadline), sig.v, sig.r, sig.s);
    expect(await f.token.nonces(who.address)).to.equal(1n);
    const answer = await service.relay(body);
    expect(answer.fee).to.equal(ACTIVATION_FEE.toString());
    expect((await f.registry.getDevice(d.deviceId)).owner).to.equal(who.address);
    expect(await f.token.balanceOf(who.address)).to.equal(0n);
  });

  it("attack: an activation the device signed for another owner is refused with no transaction", async function () {
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const body = await relayRequest(d, who, { deviceOwner: Wallet.createRandom().address });
    const nonce = await ethers.provider.getTransactionCount(relayerAddress);
    const no = await refusal(service.relay(body));
    expect(no.reason).to.equal("bad_device_signature");
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce);
  });

  it("attack: a hostile relayer operator cannot charge more than the consented maximum nor activate to someone else (contract)", async function () {
    const [d] = await devices(1);
    const who = await owner(10n * ONE);
    const body = await relayRequest(d, who, { maxFee: ACTIVATION_FEE });
    const [, deviceId, to, ...rest] = relayArgs(body, relayRequestOf(body).payload);
    const registry = f.registry.connect(f.relayer);
    // A higher maximum than the owner consented to.
    await expect(registry.activateDeviceWithPermit(10n * ONE, deviceId, to, ...rest)).to.be.revertedWithCustomError(
      f.registry,
      "InvalidOwnerConsent",
    );
    // The device to the operator instead of the owner.
    await expect(
      registry.activateDeviceWithPermit(ACTIVATION_FEE, deviceId, f.relayer.address, ...rest),
    ).to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature");
    expect((await f.registry.getDevice(d.deviceId)).status).to.equal(1n);
    expect(await f.token.balanceOf(who.address)).to.equal(10n * ONE);
  });

  it("attack: the owner moves its THING while its transfer is pending: the simulation (pending state) refuses, nothing sent", async function () {
    const [d] = await devices(1);
    const who = (await owner(ACTIVATION_FEE)).connect(ethers.provider);
    await f.admin.sendTransaction({ to: who.address, value: ONE });
    const body = await relayRequest(d, who);
    await network.provider.send("evm_setAutomine", [false]);
    await f.token.connect(who).transfer(f.mallory.address, ACTIVATION_FEE);
    const nonce = await ethers.provider.getTransactionCount(relayerAddress, "pending");
    const no = await refusal(service.relay(body));
    expect(no.status).to.equal(409);
    expect(await ethers.provider.getTransactionCount(relayerAddress, "pending")).to.equal(nonce);
  });

  it("attack: one owner balance, two devices relayed at once: only one transaction is sent (pending state)", async function () {
    const [a, b] = await devices(2);
    const who = await owner(ACTIVATION_FEE);
    const bodyA = await relayRequest(a, who);
    const bodyB = await relayRequest(b, who);
    const nonce = await ethers.provider.getTransactionCount(relayerAddress);
    await network.provider.send("evm_setAutomine", [false]);
    const results = Promise.allSettled([service.relay(bodyA), service.relay(bodyB)]);
    await mineWhenPending(2, 3_000);
    const [ra, rb] = await results;
    expect([ra, rb].filter((r) => r.status === "fulfilled")).to.have.length(1);
    // The relayer sent exactly one transaction: no reverted one at its expense.
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce + 1);
  });

  it("attack: the owner drains its THING after the relayer's transaction is pending: it reverts at the relayer's gas (README's accepted cost), the owner pays nothing", async function () {
    const [d] = await devices(1);
    const who = (await owner(ACTIVATION_FEE)).connect(ethers.provider);
    await f.admin.sendTransaction({ to: who.address, value: ONE });
    const body = await relayRequest(d, who);
    const eth = await ethers.provider.getBalance(relayerAddress);
    await network.provider.send("evm_setAutomine", [false]);
    const result = service.relay(body).then(
      () => undefined,
      (e: unknown) => e,
    );
    await waitPending();
    // Front-run with a higher tip.
    await f.token.connect(who).transfer(f.mallory.address, ACTIVATION_FEE, {
      maxPriorityFeePerGas: 10n ** 11n,
      maxFeePerGas: 10n ** 12n,
      gasLimit: 100_000n,
    });
    await network.provider.send("evm_mine", []);
    const error = (await result) as Rejected;
    expect(error).to.be.instanceOf(Rejected);
    expect(error.reason).to.equal("reverted");
    expect(await ethers.provider.getBalance(relayerAddress)).to.be.lessThan(eth);
    expect((await f.registry.getDevice(d.deviceId)).status).to.equal(1n);
  });

  it("attack: a restarted relayer asked again for a device whose transaction is still pending sends nothing more (pending-state simulation)", async function () {
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const body = await relayRequest(d, who);
    const nonce = await ethers.provider.getTransactionCount(relayerAddress);
    await network.provider.send("evm_setAutomine", [false]);
    const first = service.relay(body);
    await waitPending();
    await relayer(); // a new process: its in-flight set is empty
    const again = await refusal(service.relay(body));
    expect(again.status).to.equal(409);
    await network.provider.send("evm_mine", []);
    expect((await first).device).to.equal(d.deviceId);
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce + 1);
  });

  it("attack (found and fixed): an RPC that hangs on one send wedges the relayer: a later request for another device never gets an answer", async function () {
    const ctx = await registryContext(f);
    service = await openRelayer(ctx, f.relayer, { policy: { maxFee: 10n * ONE }, receiptTimeoutSeconds: 2 });
    const [a, b] = await devices(2);
    const bodyA = await relayRequest(a, await owner(ACTIVATION_FEE));
    const bodyB = await relayRequest(b, await owner(ACTIVATION_FEE));
    const { provider, original } = rpc();
    let hung = false;
    // The node accepts the connection but never answers the first send.
    provider.send = (m, p) => {
      if (!hung && (m === "eth_sendTransaction" || m === "eth_sendRawTransaction")) {
        hung = true;
        return new Promise(() => undefined);
      }
      return original(m, p);
    };
    try {
      void service.relay(bodyA).catch(() => undefined);
      const settled = await Promise.race([
        service.relay(bodyB).then(
          () => "answered",
          (e: unknown) => (e instanceof Rejected ? `refused ${e.reason}` : "failed"),
        ),
        new Promise<string>((r) => setTimeout(() => r("no answer"), 15_000)),
      ]);
      expect(hung).to.equal(true);
      expect(settled).not.to.equal("no answer");
    } finally {
      provider.send = original;
    }
  });

  it("attack (found and fixed): junk requests naming a victim's device (public id, forged signatures) hold its in-flight lock: the owner's valid request is refused in_flight", async function () {
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const valid = await relayRequest(d, who);
    // The attacker knows only the device id: its own owner key, a forged device signature and consent.
    const junk = await relayRequest({ deviceId: d.deviceId, wallet: Wallet.createRandom() }, Wallet.createRandom());
    const { provider, original } = rpc();
    // A remote node: each read takes a while.
    provider.send = async (m, p) => {
      if (m === "eth_call") await new Promise((r) => setTimeout(r, 200));
      return original(m, p);
    };
    let answer: string;
    try {
      const spam = service.relay(junk).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      answer = await service.relay(valid).then(
        () => "relayed",
        (e: unknown) => (e instanceof Rejected ? `refused ${e.reason}` : "failed"),
      );
      expect(((await spam) as Rejected).reason).to.equal("bad_device_signature");
    } finally {
      provider.send = original;
    }
    expect(answer).to.equal("relayed");
  });

  it("attack (found and fixed): after a gas spike strands one transaction (504), every later request queues behind its nonce and times out too (no replacement)", async function () {
    const ctx = await registryContext(f);
    service = await openRelayer(ctx, f.relayer, { policy: { maxFee: 10n * ONE }, receiptTimeoutSeconds: 2 });
    const [a, b] = await devices(2);
    const bodyA = await relayRequest(a, await owner(ACTIVATION_FEE));
    const bodyB = await relayRequest(b, await owner(ACTIVATION_FEE));
    await network.provider.send("evm_setAutomine", [false]);
    const first = service.relay(bodyA).catch((e: unknown) => e);
    await waitPending();
    const pending = (await network.provider.send("eth_getBlockByNumber", ["pending", false])) as {
      transactions: string[];
    };
    const stuck = (await ethers.provider.getTransaction(pending.transactions[0]))!;
    // The base fee jumps above what the first transaction offers, and stays there.
    const high = `0x${(stuck.maxFeePerGas! * 3n).toString(16)}`;
    let spiking = true;
    const spike = (async () => {
      while (spiking) {
        await network.provider.send("hardhat_setNextBlockBaseFeePerGas", [high]);
        await network.provider.send("evm_mine", []);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      expect(((await first) as Rejected).reason).to.equal("receipt_timeout");
      const second = await service.relay(bodyB).then(
        () => "relayed",
        (e: unknown) => (e instanceof Rejected ? `refused ${e.reason}` : "failed"),
      );
      // Correct: the relayer replaces (or cancels) its stranded transaction, or refuses before queueing behind it.
      expect(second).not.to.equal("refused receipt_timeout");
    } finally {
      spiking = false;
      await spike;
    }
  });

  it("attack (found and fixed): a request with a forged consent for a public registered device costs the relayer at most 2 chain reads (signatures before the balance/nonce/allowance reads)", async function () {
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const body = await relayRequest(d, who, { consentKey: Wallet.createRandom() });
    const calls = await rpcCalls(() => service.relay(body));
    console.log(`      forged-consent request: ${calls.length} RPC calls: ${calls.join(",")}`);
    expect(calls.length).to.be.at.most(2);
  });

  it("attack (found and fixed): --max-gas-price caps what the relayer pays: a base-fee spike after the check is paid above the cap", async function () {
    const { gasPrice } = await ethers.provider.getFeeData();
    const cap = gasPrice!;
    await relayer({ maxFee: 10n * ONE, maxGasPrice: cap });
    const [d] = await devices(1);
    const who = await owner(ACTIVATION_FEE);
    const body = await relayRequest(d, who);
    await network.provider.send("evm_setAutomine", [false]);
    const answer = service.relay(body);
    await waitPending();
    const tx = (await ethers.provider.getTransaction(
      ((await network.provider.send("eth_getBlockByNumber", ["pending", false])) as { transactions: string[] })
        .transactions[0],
    ))!;
    // The network's base fee rises above the cap before the transaction is mined.
    const spike = cap + (tx.maxFeePerGas! - cap) / 2n;
    await network.provider.send("hardhat_setNextBlockBaseFeePerGas", [`0x${spike.toString(16)}`]);
    await network.provider.send("evm_mine", []);
    const receipt = (await ethers.provider.getTransactionReceipt((await answer).txHash))!;
    console.log(`      cap ${cap} wei; tx maxFeePerGas ${tx.maxFeePerGas}; paid ${receipt.gasPrice} wei/gas`);
    expect(receipt.gasPrice).to.be.at.most(cap);
  });

  it("a send without an answer is refused 503 within the RPC bound, /health fails, and the device is not held: its retry is relayed", async function () {
    const ctx = await registryContext(f);
    service = await openRelayer(ctx, f.relayer, {
      policy: { maxFee: 10n * ONE },
      receiptTimeoutSeconds: 20,
      http: { limits: { rpcTimeoutMs: 1_000 }, healthCacheMs: 0 },
    });
    const [d] = await devices(1);
    const body = await relayRequest(d, await owner(ACTIVATION_FEE));
    const nonce = await ethers.provider.getTransactionCount(relayerAddress);
    const { provider, original } = rpc();
    provider.send = (m, p) =>
      m === "eth_sendTransaction" || m === "eth_sendRawTransaction" ? new Promise(() => undefined) : original(m, p);
    let hung: Rejected;
    try {
      hung = await refusal(service.relay(body));
    } finally {
      provider.send = original;
    }
    expect(hung.status).to.equal(503);
    expect(hung.reason).to.equal("chain_unavailable");
    expect(hung.message).to.match(/sendTransaction got no answer within 1000 ms/);
    const sick = await service.healthReport();
    expect(sick.ok).to.equal(false);
    expect((sick.rpc as { ok: boolean; error: string }).error).to.match(/sendTransaction/);
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce);
    // The node never got it: the nonce is free again and the same device is not held in flight.
    const answer = await service.relay(body);
    expect(answer.device).to.equal(d.deviceId);
    expect((await f.registry.getDevice(d.deviceId)).status).to.equal(2n);
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce + 1);
    expect((await service.healthReport()).ok).to.equal(true);
  });

  it("while its transaction is unmined past the receipt timeout, the relayer sends nothing behind it (503 naming its hash) and resumes once it is mined", async function () {
    const ctx = await registryContext(f);
    service = await openRelayer(ctx, f.relayer, { policy: { maxFee: 10n * ONE }, receiptTimeoutSeconds: 1 });
    const [a, b] = await devices(2);
    const bodyA = await relayRequest(a, await owner(ACTIVATION_FEE));
    const bodyB = await relayRequest(b, await owner(ACTIVATION_FEE));
    const nonce = await ethers.provider.getTransactionCount(relayerAddress);
    await network.provider.send("evm_setAutomine", [false]);
    const timedOut = await refusal(service.relay(bodyA));
    expect(timedOut.reason).to.equal("receipt_timeout");
    const hash = /transaction (0x[0-9a-f]{64})/.exec(timedOut.message)![1];
    const waiting = await refusal(service.relay(bodyB));
    expect(waiting.status).to.equal(503);
    expect(waiting.reason).to.equal("unmined_transaction");
    expect(waiting.message).to.equal(`waiting for ${hash} to be mined; retry later`);
    expect(await ethers.provider.getTransactionCount(relayerAddress, "pending")).to.equal(nonce + 1);
    expect((await service.healthReport()).unmined).to.equal(hash);
    await network.provider.send("evm_mine", []);
    await network.provider.send("evm_setAutomine", [true]);
    expect((await f.registry.getDevice(a.deviceId)).status).to.equal(2n);
    const answer = await service.relay(bodyB);
    expect(answer.device).to.equal(b.deviceId);
    expect(await ethers.provider.getTransactionCount(relayerAddress)).to.equal(nonce + 2);
  });
});
