import { checksumHex } from "../../chain/address";
import { Rejected } from "../../http/service";
import { CHALLENGE_PATTERN } from "../hotp";
import type { ChannelParams } from "./types";

const hex32 = "^0x[0-9a-fA-F]{64}$";
export const accessSchema = {
  body: {
    type: "object",
    required: ["channel", "deviceId", "amount", "signature", "proof"],
    additionalProperties: false,
    properties: {
      channel: {
        type: "object",
        required: ["owner", "token", "clientRoot", "salt", "openBlock"],
        additionalProperties: false,
        properties: {
          owner: { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" },
          token: { type: "boolean" },
          clientRoot: { type: "string", pattern: hex32 },
          salt: { type: "string", pattern: "^[0-9]{1,29}$" },
          openBlock: { type: "string", pattern: "^[0-9]{1,19}$" },
        },
      },
      deviceId: { type: "string", pattern: hex32 },
      amount: { type: "string", pattern: "^[0-9]{1,29}$" },
      signature: { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" },
      proof: { type: "array", maxItems: 32, items: { type: "string", pattern: hex32 } },
    },
  },
  // The grant's shape (`AccessGrant`): Fastify serializes it with a compiled serializer instead of JSON.stringify.
  response: {
    200: {
      type: "object",
      required: ["deviceId", "otp", "counter", "amount", "expiresAt"],
      properties: {
        deviceId: { type: "string" },
        otp: { type: "string" },
        counter: { type: "integer" },
        amount: { type: "string" },
        expiresAt: { type: "integer" },
        advance: {
          type: "object",
          required: ["base", "mac"],
          properties: { base: { type: "integer" }, mac: { type: "string" } },
        },
      },
    },
  },
} as const;
export const ackSchema = {
  body: {
    type: "object",
    required: ["base", "mac"],
    additionalProperties: false,
    properties: {
      base: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      next: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      challenge: { type: "string", pattern: CHALLENGE_PATTERN },
      mac: { type: "string", pattern: "^[0-9a-f]{32}$" },
    },
  },
} as const;
export const receiptSchema = {
  params: {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string", pattern: hex32 } },
  },
} as const;
/** A device id in the path (`/devices/:id/…`): 32 bytes of hex, as in bodies. */
export const deviceParams = receiptSchema.params;
export const redeliverSchema = {
  ...receiptSchema,
  body: {
    type: "object",
    required: ["amount", "signature"],
    additionalProperties: false,
    properties: {
      amount: { type: "string", pattern: "^[0-9]{1,29}$" },
      signature: { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" },
    },
  },
} as const;

/** What the schema cannot say: the owner's EIP-55 checksum (when mixed case) and the uint96 salt. */
export function checkChannelParams(params: ChannelParams): void {
  // The schema has checked 0x + 40 hex digits; a mixed-case address must be its own checksummed form
  // (the native keccak: ethers' getAddress hashes in pure JS, a twentieth of an exchange's time).
  const digits = params.owner.slice(2);
  const lower = digits.toLowerCase();
  if (digits !== lower && digits !== digits.toUpperCase() && checksumHex(lower) !== params.owner) {
    throw new Rejected(
      400,
      `body/channel/owner ${params.owner} fails its EIP-55 checksum (send it checksummed, or all lower case)`,
      "bad_checksum",
    );
  }
  if (BigInt(params.salt) >= 2n ** 96n)
    throw new Rejected(400, `body/channel/salt ${params.salt} does not fit in 96 bits`, "salt_too_large");
}
