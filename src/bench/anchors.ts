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
}

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
    note: "transferAndCall − transfer − callee's own cost; the callee's cost is a direct call − 21,000 + the 2,600 cold-account access (EIP-2929)",
  },
};
