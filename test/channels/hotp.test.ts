import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { SimulatedDevice } from "../../src/channels/device";
import { checkDeviceAck, deviceAck, deviceAdvance, hotp, hotpMatch } from "../../src/channels/hotp";

/** RFC 4226 HOTP computed independently with node's crypto (dynamic truncation, section 5.3). */
function referenceHotp(secret: Buffer, counter: number, algorithm: string, digits: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac(algorithm, secret).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, "0");
}

describe("HOTP and the constrained device", function () {
  const rfcSecret = Buffer.from("12345678901234567890");

  it("matches RFC 4226 Appendix D (HMAC-SHA-1, 6 digits)", function () {
    const appendixD = [
      "755224",
      "287082",
      "359152",
      "969429",
      "338314",
      "254676",
      "287922",
      "162583",
      "399871",
      "520489",
    ];
    appendixD.forEach((expected, counter) => {
      expect(hotp(rfcSecret, counter, { algorithm: "sha1", digits: 6 })).to.equal(expected);
      expect(referenceHotp(rfcSecret, counter, "sha1", 6)).to.equal(expected);
    });
  });

  it("matches HMAC-SHA-256 vectors derived independently with node's crypto, for 6, 7 and 8 digits", function () {
    const secret = crypto.createHash("sha256").update("thingledger shared secret").digest();
    for (const digits of [6, 7, 8] as const) {
      for (const counter of [0, 1, 2, 99, 1000, 2 ** 32 + 5]) {
        expect(hotp(secret, counter, { algorithm: "sha256", digits })).to.equal(
          referenceHotp(secret, counter, "sha256", digits),
        );
      }
    }
  });

  it("matches within a look-ahead window only", function () {
    const secret = crypto.randomBytes(32);
    const token = hotp(secret, 12);
    expect(hotpMatch(secret, token, 10, 5)).to.equal(12);
    expect(hotpMatch(secret, token, 13, 5)).to.equal(undefined); // behind the counter: spent
    expect(hotpMatch(secret, token, 5, 5)).to.equal(undefined); // beyond the window
    expect(hotpMatch(secret, "12ab5678", 10, 5)).to.equal(undefined);
  });

  describe("simulated device", function () {
    let dir: string;
    beforeEach(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-device-"));
    });
    afterEach(function () {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    /** A new device with window `window` at base 0 and a random secret, kept in `dir`/lock.json. */
    function freshDevice(deviceId: string, window: number): { device: SimulatedDevice; secret: Buffer } {
      const secret = crypto.randomBytes(32);
      const initial = { deviceId, secret: secret.toString("hex"), counter: 0, slotsGranted: 0 };
      return { device: new SimulatedDevice(path.join(dir, "lock.json"), window, undefined, initial), secret };
    }

    it("grants one slot per OTP, refuses reuse and OTPs outside the window, and persists its counter", function () {
      const secret = crypto.randomBytes(32);
      const file = path.join(dir, "lock.json");
      const device = new SimulatedDevice(file, 3, undefined, {
        deviceId: "0x01",
        secret: secret.toString("hex"),
        counter: 0,
        slotsGranted: 0,
      });
      const first = hotp(secret, 0);
      expect(device.present(first)).to.deep.include({ granted: true, counter: 1 });
      expect(device.present(first)).to.deep.include({ granted: false, reason: "unknown or reused", counter: 1 });
      // The AS may have issued OTPs whose slot is not used yet: the window [1, 4) keeps them valid.
      expect(device.present(hotp(secret, 3))).to.deep.include({ granted: true, counter: 1 });
      expect(device.present(hotp(secret, 3))).to.deep.include({ granted: false, reason: "unknown or reused" });
      expect(device.present(hotp(secret, 4))).to.deep.include({
        granted: false,
        reason: "unknown or reused",
        counter: 1,
      });
      expect(device.present("not-a-code").granted).to.equal(false);
      // A restart keeps the window and its used-bitmap: a replayed OTP stays refused.
      const restarted = new SimulatedDevice(file, 3);
      expect(restarted.counter).to.equal(1);
      expect(restarted.slotsGranted).to.equal(2);
      expect(restarted.present(hotp(secret, 3)).granted).to.equal(false);
      expect(restarted.present(hotp(secret, 1))).to.deep.include({ granted: true, counter: 2 });
      expect(restarted.present(hotp(secret, 2))).to.deep.include({ granted: true, counter: 4 }); // slides past 3
      expect(restarted.present(hotp(secret, 4)).granted).to.equal(true);
      expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    });

    it("codes used out of order: every code of the window is granted once, whatever the order", function () {
      const secret = crypto.randomBytes(32);
      const device = new SimulatedDevice(path.join(dir, "lock.json"), 8, undefined, {
        deviceId: "0x02",
        secret: secret.toString("hex"),
        counter: 0,
        slotsGranted: 0,
      });
      for (const c of [7, 0, 5, 3, 1, 6, 2, 4])
        expect(device.present(hotp(secret, c)).granted, `code ${c}`).to.equal(true);
      expect(device.counter).to.equal(8);
      for (let c = 0; c < 8; c++) expect(device.present(hotp(secret, c)).granted, `replay ${c}`).to.equal(false);
    });

    it("acknowledges its base with a MAC only the secret's holders can make", function () {
      const secret = crypto.randomBytes(32);
      const device = new SimulatedDevice(path.join(dir, "lock.json"), 4, undefined, {
        deviceId: "0x03",
        secret: secret.toString("hex"),
        counter: 0,
        slotsGranted: 0,
      });
      const outcome = device.present(hotp(secret, 0));
      expect(outcome.ack).to.equal(deviceAck(secret, "0x03", 1));
      expect(checkDeviceAck(secret, "0x03", 1, outcome.ack!)).to.equal(true);
      expect(checkDeviceAck(secret, "0x03", 2, outcome.ack!)).to.equal(false); // a raised base
      expect(checkDeviceAck(crypto.randomBytes(32), "0x03", 1, outcome.ack!)).to.equal(false);
      expect(checkDeviceAck(secret, "0x03", 1, "00")).to.equal(false);
    });

    it("every refusal carries the device's acknowledgement of its window, with next when it used counters above its base", function () {
      const { device, secret } = freshDevice("0x05", 8);
      expect(device.present(hotp(secret, 0))).to.deep.equal({
        granted: true,
        counter: 1,
        ack: deviceAck(secret, "0x05", 1),
      });
      expect(device.present(hotp(secret, 4))).to.deep.equal({
        granted: true,
        counter: 1,
        next: 5,
        ack: deviceAck(secret, "0x05", 1, 5),
      });
      // A reused code and a malformed one: refused, and the acknowledgement (base 1, used up to 4) comes too.
      const expected = { counter: 1, next: 5, ack: deviceAck(secret, "0x05", 1, 5) };
      expect(device.present(hotp(secret, 0))).to.deep.equal({
        granted: false,
        reason: "unknown or reused",
        ...expected,
      });
      expect(device.present("x")).to.deep.equal({ granted: false, reason: "malformed", ...expected });
      expect(device.ack()).to.deep.equal({ base: 1, next: 5, mac: expected.ack });
      // The MAC binds next: a client cannot claim a lower or higher one.
      expect(checkDeviceAck(secret, "0x05", 1, expected.ack, 5)).to.equal(true);
      for (const next of [undefined, 4, 6])
        expect(checkDeviceAck(secret, "0x05", 1, expected.ack, next), `next ${next}`).to.equal(false);
    });

    it("acknowledges the AS's challenge (--resync) only when given one: the MAC covers it, so an acknowledgement without it, or of another challenge, cannot stand in", function () {
      const { device, secret } = freshDevice("0x07", 8);
      const challenge = "0123456789abcdef".repeat(2);
      const other = "fedcba9876543210".repeat(2);
      expect(device.present(hotp(secret, 3)).granted).to.equal(true); // base 0, next 4
      const asked = device.ack(challenge);
      expect(asked).to.deep.equal({ base: 0, next: 4, challenge, mac: deviceAck(secret, "0x07", 0, 4, challenge) });
      expect(checkDeviceAck(secret, "0x07", 0, asked.mac, 4, challenge)).to.equal(true);
      for (const c of [undefined, other])
        expect(checkDeviceAck(secret, "0x07", 0, asked.mac, 4, c), `challenge ${c}`).to.equal(false);
      // The plain acknowledgement does not check as a challenged one.
      expect(checkDeviceAck(secret, "0x07", 0, device.ack().mac, 4, challenge)).to.equal(false);
      // present() relays the challenge into the acknowledgement it answers with, on a grant and a refusal.
      expect(device.present(hotp(secret, 0), undefined, challenge)).to.deep.equal({
        granted: true,
        counter: 1,
        next: 4,
        challenge,
        ack: deviceAck(secret, "0x07", 1, 4, challenge),
      });
      expect(device.present("x", undefined, other)).to.deep.include({
        granted: false,
        challenge: other,
        ack: deviceAck(secret, "0x07", 1, 4, other),
      });
      // Only the AS's format (32 lower-case hex digits): nothing else is signed.
      expect(() => device.ack("0x07 1 99")).to.throw(/challenge 0x07 1 99 is not 32 lower-case hex digits/);
    });

    it("an advance from the AS kills the unused counters below it before the code is checked; a forged, replayed, older or ack-MAC'd one changes nothing", function () {
      const { device, secret } = freshDevice("0x06", 4);
      expect(device.present(hotp(secret, 2)).granted).to.equal(true); // window [0, 4), 2 used
      // Code 5 is outside [0, 4): refused without an advance, or with a forged one, or an ack's MAC for 3.
      expect(device.present(hotp(secret, 5)).granted).to.equal(false);
      expect(device.present(hotp(secret, 5), { base: 3, mac: "00".repeat(16) }).granted).to.equal(false);
      expect(device.present(hotp(secret, 5), { base: 3, mac: deviceAck(secret, "0x06", 3) }).granted).to.equal(false);
      expect(
        device.present(hotp(secret, 5), { base: 3, mac: deviceAdvance(crypto.randomBytes(32), "0x06", 3) }).granted,
      ).to.equal(false);
      expect(device.counter).to.equal(0);
      // The AS's advance to 3 (counters 0, 1 expired unused): applied first, so code 5 is in [3, 7).
      const advance = { base: 3, mac: deviceAdvance(secret, "0x06", 3) };
      expect(device.present(hotp(secret, 5), advance)).to.deep.include({ granted: true, counter: 3, next: 6 });
      // The voided codes are dead; a replayed advance changes nothing; code 3 still works once.
      expect(device.present(hotp(secret, 0), advance).granted).to.equal(false);
      expect(device.present(hotp(secret, 1)).granted).to.equal(false);
      expect(device.present(hotp(secret, 3), advance)).to.deep.include({ granted: true, counter: 4 });
      expect(device.present(hotp(secret, 3), advance).granted).to.equal(false);
      // An older advance (below the base) is ignored, and the advance was persisted.
      expect(device.present(hotp(secret, 4), { base: 1, mac: deviceAdvance(secret, "0x06", 1) })).to.deep.include({
        granted: true,
        counter: 6,
      });
      expect(new SimulatedDevice(path.join(dir, "lock.json"), 4).counter).to.equal(6);
    });
  });
});
