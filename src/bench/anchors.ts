/**
 * What each measured operation is compared with in `npm run bench:gas`: the figure of a public peer (the
 * anchor) and where it comes from, and the target this project holds itself to. Operation names are
 * the names the tests give `snapshotGas`.
 */
export interface GasAnchor {
  /** The peer's gas for the same operation. */
  readonly anchor?: number;
  /** Where the anchor figure comes from. */
  readonly source?: string;
  /** The most gas this operation may use. */
  readonly target?: number;
  /** What the row measures, when the name alone does not say. */
  readonly note?: string;
  /** Further peers for the same operation, each its own row (`<operation> vs <peer>`) with its ratio. */
  readonly also?: readonly { readonly peer: string; readonly anchor: number; readonly source: string }[];
}

const ATONOMI = "Atonomi's deployed contract, Shanghai rules";

const SOFIE = "SOFIE paper (Fotiou et al.), 2019 rules";
const MICRORAIDEN = "microraiden";

const SAFE = "Safe 1.5.0 execTransaction, in-process Hardhat network (issue #5)";
const ALLOWANCE = "Safe AllowanceModule, the delegate's spend (issue #5)";

const OZ_ERC20 = "OpenZeppelin ERC-20, in-process Hardhat network, optimizer on";

export const GAS_ANCHORS: Readonly<Record<string, GasAnchor>> = {
  "token.transfer (new holder)": { anchor: 51_560, source: `${OZ_ERC20}: transfer to a new holder`, target: 51_560 },
  "token.transferAndCall (new holder, no-op callee)": {
    anchor: 51_560,
    source: `${OZ_ERC20}: transfer to a new holder (the call adds the callee)`,
    note: "transfer + call of an empty callee function",
  },
  "token.and-call overhead (over transfer + callee)": {
    target: 3_000,
    source: "issue #2 budget",
    note: "transferAndCall − transfer − callee's own cost; the callee's cost is a direct call − 21,000 + the 2,600 cold-account access (EIP-2929); includes asking the recipient whether it refuses such transfers (IERC827Refuser, ~430)",
  },
  "registry.registerDevice": {
    anchor: 186_000,
    source: `${ATONOMI}: registerDevice (186,000–201,000)`,
    target: 65_000,
    note: "one device, registration fee taken from the manufacturer's prepaid credit",
  },
  "registry.registerDevices per extra device": {
    anchor: 117_000,
    source: `${ATONOMI}: registerDevices, per extra device`,
    target: 25_000,
    note: "(batch of 101 − batch of 1) / 100",
  },
  "registry.commitWhitelist": {
    target: 60_000,
    source: "issue #3 target, whatever N",
    note: "one Merkle root with a paid capacity of N devices",
  },
  "registry.activateDevice": {
    anchor: 83_300,
    source: `${ATONOMI}: activateDevice (no signature check, no owner stored)`,
    target: 83_300,
    note: "EIP-712 device signature checked, activation fee pulled from the owner, owner stored",
  },
  "registry.activateFromWhitelist (14-level proof)": {
    anchor: 194_000,
    source: `${ATONOMI}: registerAndActivateDevice`,
    target: 110_000,
    note: "lazy registration from a 14-level Merkle proof + signed activation + fee, in one transaction; the device key is recovered from its compact (EIP-2098) signature rather than passed, and the 740-byte calldata alone costs ~9,500",
  },
  "registry.activateFromWhitelist via approveAndCall (14-level proof)": {
    anchor: 194_000,
    source: `${ATONOMI}: registerAndActivateDevice`,
    note: "the convenience path `device:activate` sends when the owner has no standing allowance: one approveAndCall, paying for the allowance write and the token's callback",
  },
  "registry.registerAndActivate": { anchor: 194_000, source: `${ATONOMI}: registerAndActivateDevice` },
  "registry.getDevice (eth_call)": { note: "validation view: the gas of the eth_call, reported" },
  "registry.isValidDeviceSignature (eth_call)": { note: "identity-claim check: the gas of the eth_call, reported" },
  "channels.openEth (group of 1,024)": {
    anchor: 50_388,
    source: `${SOFIE}: construction (3) open`,
    target: 50_388,
    note: "one storage slot per channel (deposit, expiry, status); the parameters and the opening block live in the event and the id",
  },
  "channels.close (ETH, group of 1,024)": {
    anchor: 36_330,
    source: `${SOFIE}: construction (3) close`,
    target: 60_000,
    note: "EIP-712 receipt, 10-level membership proof, AS paid and owner refunded in ETH; the channel's slot is cleared (storage refund), safe because ids include the opening block",
  },
  "channels.openToken via approveAndCall (group of 1,024)": {
    anchor: 120_090,
    source: `${MICRORAIDEN}: ERC-20 open including the approve`,
    target: 90_000,
  },
  "channels.close (ThingToken, group of 1,024)": {
    anchor: 71_182,
    source: `${MICRORAIDEN}: cooperative close`,
    target: 60_000,
    note: "a miss by ~1,350: two token transfers (payee, owner refund: ~23,000) on top of the receipt and proof checks; the 10-level proof costs ~6,000 (calldata ~5,100). Measured with another channel open, so the contract's token balance stays non-zero as in production",
  },
  "channels.close (ThingToken, one client)": {
    anchor: 71_182,
    source: `${MICRORAIDEN}: cooperative close`,
    target: 60_000,
    note: "constructions (1) and (2): the root is the client's leaf, the proof empty",
  },
  "channels.closeBatch per channel (20 ETH channels, group of 1,024)": {
    anchor: 36_330,
    source: `${SOFIE}: construction (3) single close`,
    target: 30_000,
    note: "20 owners, each refunded in ETH (~9,300 each, cold account); a 10-level proof each (~5,100 of calldata); each slot cleared (storage refund); the AS paid once",
  },
  "channels.closeBatch (20 ETH channels, total)": {
    note: "the whole batch transaction; all 20 channels share one group, so the 20 proofs are identical and compress unrealistically well on an L2",
  },
  "channels.closeBatch (20 ETH channels, distinct groups of 1,024, total)": {
    note: "the whole batch transaction, each channel with its own 1,024-client group (20 roots, 20 unrelated proofs): the L2 size to plan with",
  },
  "reputation.updateScore (existing score)": {
    anchor: 91_000,
    source: `${ATONOMI}: updateReputationScore, repeat write (first write 134,000)`,
    target: 35_000,
    note: "a miss by ~3,600: 21,000 base + the auditor's slot and the device's slot each read and written (~10,000) + the audit-trail event (~2,000) + calldata (~1,800, a trend of -1 is 32 bytes of 0xff) leave too little; the reward is accrued from the auditor's reserved budget, so no global state is touched",
  },
  "reputation.updateScores per device (100, existing)": {
    anchor: 91_000,
    source: `${ATONOMI}: updateReputationScore, repeat write`,
    target: 8_000,
    note: "the batch's total gas / 100; scores share the owner's storage word",
  },
  "reputation.updateScores per device (100, first scores)": {
    anchor: 134_000,
    source: `${ATONOMI}: updateReputationScore, first write`,
    target: 25_000,
    note: "a first score costs what a later one does: the device's word already holds its owner",
  },
  "reputation.updateScores (batch of 100, existing scores)": { note: "the whole batch transaction" },
  "reputation.updateScoresPacked per device (100, existing)": {
    anchor: 91_000,
    source: `${ATONOMI}: updateReputationScore, repeat write`,
    target: 8_000,
    note: "the packed batch's total gas / 100: 15-byte entries (a 12-byte device reference, score, trend)",
  },
  "reputation.updateScoresPacked (batch of 100, existing scores)": {
    note: "the whole packed batch transaction: what the auditor sends; a third of the calldata of updateScores",
  },
  "wallet.create (3 owners, device key, ETH limit)": {
    target: 160_000,
    source: "issue #5 target",
    note: "an EIP-1167 clone with the device id as an immutable argument, plus three storage words (owners, device, ETH limit); the factory's WalletCreated event records the configuration",
  },
  "wallet.execute 2-of-3 (ETH transfer)": {
    anchor: 65_163,
    source: `${SAFE}: 2-of-3 (1-of-1 Safe 58,115)`,
    target: 55_000,
    note: "two compact signatures and the one owner who did not sign; the owner set is a hash in the nonce's word",
    also: [
      {
        peer: "SimpleMultiSig",
        anchor: 59_968,
        source: "SimpleMultiSig, in-process Hardhat network (issue #5): 2-of-3 (1-of-1 52,629; 3-of-3 67,282)",
      },
    ],
  },
  "wallet.execute 2-of-3 (ThingToken transfer)": {
    anchor: 89_405,
    source: `${SAFE}: ERC-20 transfer, 2-of-3`,
    note: "recipient already holds THING",
  },
  "wallet.deviceTransfer ETH (sent by the device)": {
    anchor: 62_812,
    source: `${ALLOWANCE}: sent by the delegate (MultiSigWalletWithDailyLimit ~184,000)`,
    target: 45_000,
    note: "no registry call: the registry tells the wallet of a revocation (owner hook), so a spend reads two words and writes one",
  },
  "wallet.deviceTransfer ETH, first spend (links)": {
    note: "the one spend that asks the registry (owner and status), ~13,300 more than later spends",
  },
  "wallet.deviceTransferBySig ETH (relayed)": {
    anchor: 67_720,
    source: `${ALLOWANCE}: relayed`,
    target: 50_000,
    note: "the device's EIP-712 signature; its nonce lives in the spend word the transfer writes anyway",
  },
  "wallet.deviceTransfer ThingToken (sent by the device)": {
    anchor: 70_142,
    source: `${ALLOWANCE}: ERC-20`,
    target: 55_000,
    note: "recipient already holds THING",
  },
};
