// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Merkle leaves and proofs of a channel's client group
/// @notice Pairs are hashed in sorted order (the proof carries no left/right bits). A one-client group's
/// root is that client's leaf, with an empty proof.
/// @dev Leaves are double-hashed, so a leaf's preimage is 32 bytes and an internal node's 64: neither
/// passes for the other.
library GroupLeaf {
    /// @dev keccak256(bytes.concat(keccak256(abi.encode(client)))).
    function hash(address client) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            mstore(0x00, client)
            mstore(0x00, keccak256(0x00, 0x20))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev Whether `client` is in the group `root`, by a sorted-pair proof. Uses only scratch space. The
    /// ABI decoder has already checked that `proof` lies within the calldata.
    function verify(bytes32[] calldata proof, bytes32 root, address client) internal pure returns (bool ok) {
        bytes32 node = hash(client);
        assembly ("memory-safe") {
            let end := add(proof.offset, shl(5, proof.length))
            for {
                let p := proof.offset
            } lt(p, end) {
                p := add(p, 0x20)
            } {
                let sibling := calldataload(p)
                // lo = min(node, sibling); the other word is lo ^ node ^ sibling.
                let both := xor(node, sibling)
                let lo := xor(node, mul(both, lt(sibling, node)))
                mstore(0x00, lo)
                mstore(0x20, xor(both, lo))
                node := keccak256(0x00, 0x40)
            }
            ok := eq(node, root)
        }
    }
}
