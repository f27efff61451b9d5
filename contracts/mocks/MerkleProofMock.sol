// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice Test helper: OpenZeppelin's `MerkleProof` (sorted pairs), which the registry and the channels
/// verify with, exposed so the off-chain tree builder's proofs can be checked against it.
contract MerkleProofMock {
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf) external pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
