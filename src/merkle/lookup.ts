import { checksumAddress } from "../chain/address";

import { findDeviceRecord } from "./records";
import { TreeFile, rootFromProof } from "./tree";
import { deviceLeaf, whitelistFiles } from "./whitelist";
import type { WhitelistEntry, WhitelistManifest } from "./whitelist";

/**
 * A device's entry in a `tree` whitelist (`file` is its manifest; see {@link whitelistFiles}), or
 * undefined when the device is not in it: its record is found in the device file, and its proof read by
 * index from the tree file. Everything is checked before it is returned (the files' counts and root, the
 * leaf the record hashes to, the proof against the root), so a damaged, truncated or mismatched file
 * throws one line naming it, never a wrong proof.
 */
export function treeWhitelistEntry(
  file: string,
  manifest: WhitelistManifest,
  deviceId: string,
): WhitelistEntry | undefined {
  const files = whitelistFiles(file, "tree");
  const devices = files.devices as string;
  const { record, count } = findDeviceRecord(devices, deviceId);
  if (count !== manifest.capacity)
    throw new Error(
      `${devices} holds ${count} devices, but ${file} lists ${manifest.capacity}: the files do not match`,
    );
  if (record === undefined) return undefined;
  const tree = TreeFile.open(files.tree);
  try {
    if (tree.root !== manifest.root.toLowerCase() || tree.count !== count)
      throw new Error(`${files.tree} is not the tree of ${file}: its root is ${tree.root}, not ${manifest.root}`);
    const leaf = deviceLeaf(record, manifest.manufacturerId);
    if (tree.leaf(record.index) !== leaf)
      throw new Error(`${devices} and ${files.tree} disagree at device ${record.index}: one of them is damaged`);
    const proof = tree.proof(record.index);
    if (rootFromProof(leaf, proof) !== tree.root)
      throw new Error(`${files.tree} is damaged: device ${record.index}'s proof does not lead to its root`);
    return { ...record, deviceKey: checksumAddress(record.deviceKey), leaf, proof };
  } finally {
    tree.close();
  }
}
