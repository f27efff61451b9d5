import { expect } from "chai";
import { Wallet, parseEther } from "ethers";

import { deviceIdOf } from "../../src/devices/id";
import {
  activationLink,
  activationProblem,
  activationQuery,
  explainActivationRevert,
  parseActivationQuery,
  parseRelayRequest,
} from "../../src/registry/activation-link";
import type { ActivationCheck, ActivationPayload } from "../../src/registry/activation-link";
import type { DeviceInfo } from "../../src/registry/device-info";

/* The portal's pure logic (src/registry/activation-link.ts): links, and what it says before sending. */

const ID = deviceIdOf(1, "link-test");
const OWNER = Wallet.createRandom().address;
const SIG = `0x${"ab".repeat(65)}`;
const PAYLOAD: ActivationPayload = { deviceId: ID, owner: OWNER, deadline: 1_000n, signature: SIG };

function info(status: DeviceInfo["status"]): DeviceInfo {
  return {
    deviceId: ID,
    status,
    manufacturerId: 1,
    manufacturer: OWNER,
    owner: OWNER,
    deviceKey: OWNER,
    deviceType: 3,
    deviceTypeName: "lock",
    metadataHash: `0x${"00".repeat(32)}`,
    score: 600,
    trend: 0,
  };
}

function check(over: Partial<ActivationCheck> = {}): ActivationCheck {
  return {
    info: info("registered"),
    payload: PAYLOAD,
    account: OWNER,
    walletChainId: 31337,
    chainId: 31337,
    now: 500n,
    fee: parseEther("2"),
    maxFee: parseEther("2"),
    balance: parseEther("2"),
    ...over,
  };
}

describe("activation links (src/registry/activation-link.ts)", function () {
  it("round-trips a payload, with and without a whitelist proof", function () {
    expect(parseActivationQuery(ID, activationQuery(PAYLOAD))).to.deep.equal(PAYLOAD);
    const whitelisted = {
      ...PAYLOAD,
      whitelist: { root: `0x${"11".repeat(32)}`, deviceType: 5, deviceKey: OWNER, proof: [`0x${"22".repeat(32)}`] },
    };
    expect(parseActivationQuery(ID, activationQuery(whitelisted))).to.deep.equal(whitelisted);
    expect(activationLink(PAYLOAD)).to.match(new RegExp(`^#/activate/${ID}\\?owner=`));
  });

  it("reads a bare id as no payload, and names a malformed field in one line", function () {
    expect(parseActivationQuery(ID, "")).to.equal(undefined);
    const q = new URLSearchParams(activationQuery(PAYLOAD));
    q.set("sig", "0x1234");
    expect(() => parseActivationQuery(ID, q.toString())).to.throw(
      'the activation link\'s "sig" is not a 65-byte signature',
    );
    expect(() => parseActivationQuery("0x12", "")).to.throw('"0x12" is not a device id (1 bytes)');
    // A deadline no date can show (the outside review's crash: "RangeError: Invalid time value").
    q.set("sig", PAYLOAD.signature);
    q.set("deadline", "99999999999999999999");
    expect(() => parseActivationQuery(ID, q.toString())).to.throw(
      'the activation link\'s "deadline" 99999999999999999999 is not a time in seconds up to 8640000000000 (the year 275760)',
    );
    q.set("deadline", "8640000000000");
    expect(parseActivationQuery(ID, q.toString())!.deadline).to.equal(8_640_000_000_000n);
  });

  it("says why an activation cannot go through, device first, then network, signature and money", function () {
    expect(activationProblem(check())).to.equal(undefined);
    expect(activationProblem(check({ info: info("active"), walletChainId: 1 }))).to.include("already active");
    expect(activationProblem(check({ info: info("revoked") }))).to.include("revoked");
    expect(activationProblem(check({ info: info("unknown") }))).to.include("no whitelist proof");
    expect(activationProblem(check({ walletChainId: 1, now: 2_000n }))).to.equal(
      "Wrong network: your wallet is on chain 1, the registry is on chain 31337. Switch network.",
    );
    expect(activationProblem(check({ now: 1_000n }))).to.include("has expired");
    expect(activationProblem(check({ account: Wallet.createRandom().address }))).to.include(
      `signed this activation for ${OWNER}`,
    );
    expect(activationProblem(check({ maxFee: parseEther("1") }))).to.equal(
      "The activation fee is 2.0 THING, above your maximum fee of 1.0 THING.",
    );
    expect(activationProblem(check({ balance: parseEther("1.5") }))).to.include("holds 1.5 THING");
  });

  it("words the registry's errors", function () {
    expect(explainActivationRevert("UnexpectedDeviceStatus", [ID, 2])).to.equal(
      "The device is already active: it cannot be activated.",
    );
    expect(explainActivationRevert("UnexpectedDeviceStatus", [ID, 3n])).to.include("revoked");
    expect(explainActivationRevert("SignatureExpired", [1n])).to.include("expired");
    expect(explainActivationRevert("FeeAboveMax", [parseEther("2"), parseEther("1")])).to.include("above your maximum");
    expect(explainActivationRevert("Mystery")).to.equal("The registry refused the activation (Mystery).");
  });

  it("checks a relay request field by field", function () {
    const request = {
      kind: "thingledger/relay-activation",
      chainId: 31337,
      activation: activationLink(PAYLOAD),
      maxFee: "2",
      ownerDeadline: "900",
      permit: SIG,
      consent: SIG,
    };
    expect(parseRelayRequest(JSON.stringify(request)).payload).to.deep.equal(PAYLOAD);
    expect(() => parseRelayRequest(JSON.stringify({ ...request, consent: "0x" }))).to.throw('"consent" is missing');
    expect(() => parseRelayRequest("nope")).to.throw("not JSON");
  });
});
