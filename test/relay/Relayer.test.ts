import type { ChildProcess } from "node:child_process";

import { expect } from "chai";
import { JsonRpcProvider, Wallet, parseEther } from "ethers";
import type { HDNodeWallet, TypedDataDomain } from "ethers";

import { readDomain } from "../../src/eip712/domain";
import { signActivation, signActivationPayment } from "../../src/eip712/device";
import { signPermit } from "../../src/eip712/permit";
import { activationLink } from "../../src/registry/activation-link";
import type { RelayRequest } from "../../src/registry/activation-link";
import type { DeviceRegistry, ThingToken } from "../../typechain-types";
import { endNodeDeployment, hardhat, startNodeDeployment } from "../shared/cli";
import type { NodeDeployment } from "../shared/cli";
import { coverageRunning } from "../shared/gas";
import { postJson, request } from "../shared/http";
import type { RawAnswer } from "../shared/http";
import { stopGroup } from "../shared/process";
import { DEMO_MANUFACTURER, demoWithDevices, startRelayer } from "../shared/relay";
import type { TestDevice } from "../shared/relay";

/*
 * `relay:serve` as a process against a real `hardhat node`: a valid relay activates the device with the
 * owner's THING and the relayer's ETH; every bad request is refused in one line with a stable reason and
 * no transaction (the relayer's nonce, the device and the owner's balance unchanged).
 */

/** Hardhat's account 7: the relayer. */
const RELAYER = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";
const REGISTERED = 1n;
const ACTIVE = 2n;
/** The relayer's cap on a request's maximum fee, in THING. */
const CAP = "50";

type Key = Wallet | HDNodeWallet;

describe("relay:serve (an activation relayer against a hardhat node)", function () {
  this.timeout(600_000);

  let started: NodeDeployment | undefined;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let token: ThingToken;
  let registryDomain: TypedDataDomain;
  let tokenDomain: TypedDataDomain;
  let relayer: ChildProcess | undefined;
  let url: string;
  let devices: TestDevice[] = [];

  before(async function () {
    if (coverageRunning()) this.skip();
    started = await startNodeDeployment("relay");
    const { node, env } = started;
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    ({ registry, token, devices } = await demoWithDevices(env, provider, "relay-test", 4));
    [registryDomain, tokenDomain] = await Promise.all([readDomain(registry), readDomain(token)]);
    const served = await startRelayer(env, ["--signer", "7", "--max-fee", CAP]);
    relayer = served.child;
    const { summary } = served;
    url = summary.url;
    expect(summary.relayer).to.equal(RELAYER);
    expect(summary.maxFee).to.equal(parseEther(CAP).toString());
  });

  after(async function () {
    await stopGroup(relayer);
    if (started !== undefined) await endNodeDeployment(started, provider);
  });

  /** A new owner with `thing` THING and no ETH. */
  async function owner(thing: bigint): Promise<Key> {
    const wallet = Wallet.createRandom();
    const manufacturer = await provider.getSigner(DEMO_MANUFACTURER);
    await (await token.connect(manufacturer).transfer(wallet.address, thing)).wait();
    return wallet;
  }

  interface Options {
    maxFee?: bigint;
    deadline?: bigint;
    ownerDeadline?: bigint;
    deviceKey?: Key;
    consentKey?: Key;
    permitKey?: Key;
    deviceId?: string;
  }

  /** The relay request the portal's "Sign for a relayer" makes, with whatever `o` changes. */
  async function relayRequest(device: { id: string; key: Key }, who: Key, o: Options = {}): Promise<RelayRequest> {
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const deviceId = o.deviceId ?? device.id;
    const maxFee = o.maxFee ?? (await registry.activationFeeOf(device.id));
    const deadline = o.deadline ?? now + 3600n;
    const ownerDeadline = o.ownerDeadline ?? now + 3600n;
    const signature = await signActivation(o.deviceKey ?? device.key, registryDomain, {
      deviceId,
      owner: who.address,
      deadline,
    });
    const permit = await signPermit(o.permitKey ?? who, tokenDomain, {
      owner: who.address,
      spender: await registry.getAddress(),
      value: maxFee,
      nonce: await token.nonces(who.address),
      deadline: ownerDeadline,
    });
    const consent = await signActivationPayment(o.consentKey ?? who, registryDomain, {
      deviceId,
      owner: who.address,
      maxFee,
      deadline: ownerDeadline,
    });
    return {
      kind: "thingledger/relay-activation",
      chainId: 31337,
      registry: await registry.getAddress(),
      activation: activationLink({ deviceId, owner: who.address, deadline, signature }),
      maxFee: maxFee.toString(),
      ownerDeadline: ownerDeadline.toString(),
      permit,
      consent,
    };
  }

  /** What a refusal must leave as it was: the relayer's nonce, the device, the owner's THING. */
  async function state(deviceId: string, who: string): Promise<unknown[]> {
    const view = await registry.getDevice(deviceId);
    return [
      await provider.getTransactionCount(RELAYER),
      view.status,
      view.owner,
      await token.balanceOf(who),
      await provider.getBalance(RELAYER),
    ];
  }

  function expectRefusal(answer: RawAnswer, status: number, reason: string, words: RegExp): void {
    expect(answer.status, answer.text).to.equal(status);
    expect(answer.body.reason, answer.text).to.equal(reason);
    expect(answer.body.error).to.be.a("string").and.match(words);
    expect(answer.body.error).not.to.include("\n");
    expect(answer.text).not.to.match(/ethers|version=|\.ts:\d|at [A-Za-z.]+ \(/);
  }

  it("relays a valid request: the device is active, the owner paid the fee and no ETH, the relayer the gas; a replay is refused without a transaction", async function () {
    const device = devices[0];
    const fee = await registry.activationFeeOf(device.id);
    expect(fee).to.be.greaterThan(0n);
    const who = await owner(fee);
    const body = await relayRequest(device, who);
    const relayerEth = await provider.getBalance(RELAYER);
    const relayerNonce = await provider.getTransactionCount(RELAYER);

    const answer = await postJson(url, "/relay", body);
    expect(answer.status, answer.text).to.equal(200);
    const result = answer.body as unknown as {
      txHash: string;
      device: string;
      owner: string;
      fee: string;
      gasUsed: string;
    };
    expect(result).to.include({ device: device.id, owner: who.address, fee: fee.toString() });
    const receipt = (await provider.getTransactionReceipt(result.txHash))!;
    expect(receipt.status).to.equal(1);
    expect(receipt.from).to.equal(RELAYER);
    expect(result.gasUsed).to.equal(receipt.gasUsed.toString());

    const view = await registry.getDevice(device.id);
    expect(view.status).to.equal(ACTIVE);
    expect(view.owner).to.equal(who.address);
    expect(await token.balanceOf(who.address)).to.equal(0n);
    expect(await provider.getBalance(who.address)).to.equal(0n);
    expect(await provider.getTransactionCount(who.address)).to.equal(0);
    expect(await provider.getTransactionCount(RELAYER)).to.equal(relayerNonce + 1);
    expect(await provider.getBalance(RELAYER)).to.equal(relayerEth - receipt.gasUsed * receipt.gasPrice);

    const before = await state(device.id, who.address);
    const replay = await postJson(url, "/relay", body);
    expectRefusal(replay, 409, "already_active", /already active/);
    expect(await state(device.id, who.address)).to.deep.equal(before);

    const metrics = await request(url, "GET", "/metrics");
    expect(metrics.text).to.match(/^thingledger_relay_activations_total 1$/m);
    const health = await request(url, "GET", "/health");
    expect(health.status).to.equal(200);
    expect(health.body).to.include({ ok: true, relayer: RELAYER, inFlight: 0 });
  });

  it("refuses every bad request in one line with its reason, sending nothing", async function () {
    const device = devices[1];
    const fee = await registry.activationFeeOf(device.id);
    const who = await owner(fee);
    const poor = await owner(fee - 1n);
    const stranger = Wallet.createRandom();
    const good = await relayRequest(device, who);
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const json = { "content-type": "application/json" };
    const cases: [string, () => Promise<RawAnswer>, number, string, RegExp][] = [
      [
        "malformed JSON",
        () => request(url, "POST", "/relay", { headers: json, body: "{ not json" }),
        400,
        "bad_json",
        /not valid JSON/,
      ],
      ["an empty body", () => request(url, "POST", "/relay", { headers: json, body: "" }), 400, "empty_body", /empty/],
      [
        "a text/plain body",
        () => request(url, "POST", "/relay", { headers: { "content-type": "text/plain" }, body: JSON.stringify(good) }),
        415,
        "unsupported_media_type",
        /application\/json/,
      ],
      [
        "an oversize body",
        () => postJson(url, "/relay", { ...good, activation: `${good.activation}${"0".repeat(20_000)}` }),
        413,
        "body_too_large",
        /larger than/,
      ],
      ["an unknown field", () => postJson(url, "/relay", { ...good, tip: "1" }), 400, "invalid_body", /tip/],
      [
        "a number where a string goes",
        () => postJson(url, "/relay", { ...good, maxFee: 5 }),
        400,
        "invalid_body",
        /maxFee/,
      ],
      [
        "not a relay request",
        () => postJson(url, "/relay", { ...good, kind: "thingledger/permit" }),
        400,
        "bad_request",
        /not a ThingLedger relay request/,
      ],
      [
        "a malformed activation link",
        () => postJson(url, "/relay", { ...good, activation: "#/activate/0x12?owner=x" }),
        400,
        "bad_request",
        /device id|activation link/,
      ],
      [
        "another chain",
        () => postJson(url, "/relay", { ...good, chainId: 1 }),
        400,
        "wrong_chain",
        /chain 1, this relayer is on chain 31337/,
      ],
      [
        "another registry",
        () => postJson(url, "/relay", { ...good, registry: stranger.address }),
        400,
        "wrong_registry",
        /relays to/,
      ],
      [
        "a maximum fee above the relayer's cap",
        async () => postJson(url, "/relay", await relayRequest(device, who, { maxFee: parseEther(CAP) + 1n })),
        400,
        "fee_over_cap",
        /above this relayer's cap of 50.0 THING/,
      ],
      [
        "a device signature by another key",
        async () => postJson(url, "/relay", await relayRequest(device, who, { deviceKey: stranger })),
        400,
        "bad_device_signature",
        /not signed by device/,
      ],
      [
        "an activation link whose owner was changed",
        () => postJson(url, "/relay", { ...good, activation: good.activation.replace(who.address, stranger.address) }),
        400,
        "bad_device_signature",
        /not signed by device/,
      ],
      [
        "the permit and the consent swapped",
        () => postJson(url, "/relay", { ...good, permit: good.consent, consent: good.permit }),
        400,
        "bad_consent",
        /payment consent is not signed by the owner/,
      ],
      [
        "a consent signed by someone else",
        async () => postJson(url, "/relay", await relayRequest(device, who, { consentKey: stranger })),
        400,
        "bad_consent",
        /payment consent/,
      ],
      [
        "a consent for a lower maximum fee",
        async () => postJson(url, "/relay", { ...(await relayRequest(device, who)), maxFee: (fee + 1n).toString() }),
        400,
        "bad_consent",
        /payment consent/,
      ],
      [
        "a forged permit",
        async () => postJson(url, "/relay", await relayRequest(device, who, { permitKey: stranger })),
        400,
        "bad_permit",
        /permit is not signed by the owner/,
      ],
      [
        "an expired device signature",
        async () => postJson(url, "/relay", await relayRequest(device, who, { deadline: now + 30n })),
        400,
        "expired",
        /device's activation expires/,
      ],
      [
        "an expired owner signature",
        async () => postJson(url, "/relay", await relayRequest(device, who, { ownerDeadline: now - 10n })),
        400,
        "expired",
        /owner's permit and consent expire at/,
      ],
      [
        "an unknown device",
        async () =>
          postJson(url, "/relay", await relayRequest(device, who, { deviceId: `0x00000001${"ab".repeat(28)}` })),
        404,
        "unknown_device",
        /not registered/,
      ],
      [
        "a fee above the owner's maximum",
        async () => postJson(url, "/relay", await relayRequest(device, who, { maxFee: fee - 1n })),
        409,
        "fee_above_max",
        /above the owner's maximum fee/,
      ],
      [
        "an owner who cannot pay",
        async () => postJson(url, "/relay", await relayRequest(device, poor)),
        409,
        "insufficient_balance",
        /holds/,
      ],
      ["GET /relay", () => request(url, "GET", "/relay"), 404, "no_route", /no route GET \/relay/],
    ];
    const before = await state(device.id, who.address);
    const poorBefore = await token.balanceOf(poor.address);
    for (const [what, send, status, reason, words] of cases) {
      const answer = await send();
      expect(answer.status, `${what}: ${answer.text}`).to.equal(status);
      expectRefusal(answer, status, reason, words);
      expect(await state(device.id, who.address), what).to.deep.equal(before);
    }
    expect(await token.balanceOf(poor.address)).to.equal(poorBefore);
    expect(cases.length).to.be.at.least(15);
    // The good request still goes through afterwards: the refusals held nothing back. Its registry is written
    // in mixed case with a wrong checksum: still the same address, compared as one (no 500).
    const hex = good.registry!.slice(2);
    const letter = hex.search(/[a-fA-F]/);
    const flipped = hex[letter] === hex[letter].toLowerCase() ? hex[letter].toUpperCase() : hex[letter].toLowerCase();
    const oddCase = `0x${hex.slice(0, letter)}${flipped}${hex.slice(letter + 1)}`;
    expect(oddCase.toLowerCase()).to.equal(good.registry!.toLowerCase()).and.not.equal(good.registry);
    const answer = await postJson(url, "/relay", { ...good, registry: oddCase });
    expect(answer.status, answer.text).to.equal(200);
    expect((await registry.getDevice(device.id)).status).to.equal(ACTIVE);
  });

  it("sends one transaction for the same device posted twice at once (the other is refused, 409)", async function () {
    const device = devices[2];
    const who = await owner(await registry.activationFeeOf(device.id));
    const body = await relayRequest(device, who);
    const nonce = await provider.getTransactionCount(RELAYER);
    const answers = await Promise.all([postJson(url, "/relay", body), postJson(url, "/relay", body)]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses, answers.map((a) => a.text).join(" | ")).to.deep.equal([200, 409]);
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.body.reason).to.be.oneOf(["in_flight", "already_active"]);
    expect(await provider.getTransactionCount(RELAYER)).to.equal(nonce + 1);
    expect((await registry.getDevice(device.id)).status).to.equal(ACTIVE);
    expect((await registry.getDevice(devices[3].id)).status).to.equal(REGISTERED);
  });

  it("refuses a bad --max-fee in one line, and --help names its flags", function () {
    const bad = hardhat(["relay:serve", "--network", "localhost", "--signer", "7", "--max-fee", "lots"], started!.env);
    expect(bad.status).to.equal(1);
    expect(
      bad.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("Error")),
    ).to.have.length(1);
    expect(bad.stderr).to.match(/--max-fee/);
    const help = hardhat(["relay:serve", "--help"], started!.env);
    expect(help.status).to.equal(0);
    for (const flag of ["--signer", "--max-fee", "--max-gas-price", "--receipt-timeout", "--port", "--json"])
      expect(help.stdout).to.include(flag);
  });
});
