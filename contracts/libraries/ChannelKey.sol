// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice A channel as seen from its payee: with the payee's address it names exactly one channel. The
/// payee is not part of the struct because every call that takes a key already knows it: it is the caller
/// of {IPaymentChannels-close}, and a separate argument of the owner's calls.
struct ChannelKey {
    /// @notice Who deposited, and is refunded what the payee is not paid.
    address owner;
    /// @notice Whether the deposit is ThingToken (true) or ETH (false).
    bool token;
    /// @notice The Merkle root of the client keys whose receipts the channel honours.
    bytes32 clientRoot;
    /// @notice Chosen by the owner, so one owner can open several channels with the same payee and group.
    uint96 salt;
    /// @notice The number of the block the open landed in.
    uint64 openBlock;
}

using ChannelKeyLibrary for ChannelKey global;

/// @title Channel ids
library ChannelKeyLibrary {
    /// @notice The id of the channel `key` names at `payee`: see {id}.
    /// @dev Hashes the key's calldata words as they are, unchecked: a key with dirty high bits hashes to an
    /// id no open ever stored (opens hash clean values), so it names no open channel.
    function toId(ChannelKey calldata key, address payee) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, calldataload(key))
            mstore(add(m, 0x20), payee)
            calldatacopy(add(m, 0x40), add(key, 0x20), 0x80)
            result := keccak256(m, 0xc0)
        }
    }

    /// @notice `keccak256(abi.encode(owner, payee, token, clientRoot, salt, openBlock))`.
    /// @dev Hashed in the free memory without moving its pointer: nothing else is allocated meanwhile.
    function id(
        address owner,
        address payee,
        bool token,
        bytes32 clientRoot,
        uint96 salt,
        uint64 openBlock
    ) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, owner)
            mstore(add(m, 0x20), payee)
            mstore(add(m, 0x40), token)
            mstore(add(m, 0x60), clientRoot)
            mstore(add(m, 0x80), salt)
            mstore(add(m, 0xa0), openBlock)
            result := keccak256(m, 0xc0)
        }
    }
}
