import crypto from "node:crypto";

import { UserError } from "../../errors";

export const ENCRYPTED = "enc1:";
export const KEY_CHECK = "thingledger AS secret key check";

/** AES-256-GCM, a fresh 96-bit nonce per secret, the device id as associated data (rows cannot be swapped). */
export function encryptSecret(secretKey: Buffer | undefined, plain: string, aad: string): string {
  if (secretKey === undefined) return plain;
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", secretKey, nonce);
  cipher.setAAD(Buffer.from(aad));
  const sealed = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return `${ENCRYPTED}${nonce.toString("base64")}:${sealed.toString("base64")}:${cipher.getAuthTag().toString("base64")}`;
}

/** The plaintext of a stored secret (`file` names the database in errors). */
export function decryptSecret(secretKey: Buffer | undefined, file: string, stored: string, aad: string): string {
  if (!stored.startsWith(ENCRYPTED)) return stored;
  if (secretKey === undefined)
    throw new UserError(`AS database ${file} holds encrypted device secrets: set AS_SECRET_KEY`);
  const [nonce, sealed, tag] = stored
    .slice(ENCRYPTED.length)
    .split(":")
    .map((p) => Buffer.from(p, "base64"));
  try {
    const decipher = crypto.createDecipheriv("aes-256-gcm", secretKey, nonce);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(sealed), decipher.final()]).toString("utf8");
  } catch {
    throw new UserError(`AS_SECRET_KEY does not decrypt the device secrets of ${file}: wrong key`);
  }
}
