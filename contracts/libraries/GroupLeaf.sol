// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Merkle leaves of a channel's client group
/// @notice Double-hashed, so a leaf's preimage is 32 bytes and an internal node's 64: neither passes for
/// the other. A one-client group's root is that client's leaf, with an empty proof.
library GroupLeaf {
    function hash(address client) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(client))));
    }
}
