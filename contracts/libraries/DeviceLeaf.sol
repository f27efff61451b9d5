// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Merkle whitelist leaves of the device registry
/// @notice A leaf binds a device's id, key and type to its manufacturer. It is hashed twice, so its
/// preimage is 32 bytes while an internal node's is 64: no internal node can pass as a leaf.
library DeviceLeaf {
    function hash(
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        uint32 manufacturerId
    ) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(deviceId, deviceKey, deviceType, manufacturerId))));
    }
}
