// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";

/**
 * @title One storage word per registered device
 * @notice Layout, from the lowest bit: device key (160 bits) | status (8) | fee setting (32) |
 * device type (32) | key nonce (24). Registration writes the word with a single SSTORE.
 *
 * The manufacturer is not stored: it is the prefix of the device id (see {DeviceId}). Its 32 bits hold
 * `feeSetting`: for a device registered from a committed Merkle root, the number of the activation fee in
 * force when the root was committed (1, 2, ...; see RegistryFees), so that its activation is charged that
 * fee whoever registered it; 0 for a device registered one by one or in a batch (current fee).
 */
library PackedDevice {
    uint256 private constant _STATUS_SHIFT = 160;
    uint256 private constant _FEE_SETTING_SHIFT = 168;
    uint256 private constant _TYPE_SHIFT = 200;
    uint256 private constant _NONCE_SHIFT = 232;
    uint256 private constant _KEY_MASK = (1 << 160) - 1;
    uint256 private constant _STATUS_MASK = 0xff << _STATUS_SHIFT;

    function pack(
        address deviceKey_,
        IDeviceRegistry.DeviceStatus status_,
        uint16 feeSetting_,
        uint32 deviceType_
    ) internal pure returns (uint256) {
        return
            uint256(uint160(deviceKey_)) |
            (uint256(status_) << _STATUS_SHIFT) |
            (uint256(feeSetting_) << _FEE_SETTING_SHIFT) |
            (uint256(deviceType_) << _TYPE_SHIFT);
    }

    function deviceKey(uint256 word) internal pure returns (address) {
        return address(uint160(word));
    }

    function status(uint256 word) internal pure returns (IDeviceRegistry.DeviceStatus) {
        return IDeviceRegistry.DeviceStatus(uint8(word >> _STATUS_SHIFT));
    }

    /// @dev The activation-fee setting fixed by the device's whitelist root; 0 for none (see above).
    function feeSetting(uint256 word) internal pure returns (uint16) {
        return uint16(word >> _FEE_SETTING_SHIFT);
    }

    function deviceType(uint256 word) internal pure returns (uint32) {
        return uint32(word >> _TYPE_SHIFT);
    }

    function keyNonce(uint256 word) internal pure returns (uint24) {
        return uint24(word >> _NONCE_SHIFT);
    }

    function withStatus(uint256 word, IDeviceRegistry.DeviceStatus newStatus) internal pure returns (uint256) {
        return (word & ~_STATUS_MASK) | (uint256(newStatus) << _STATUS_SHIFT);
    }

    /// @dev Replaces the key and advances the nonce.
    function withRotatedKey(uint256 word, address newKey) internal pure returns (uint256) {
        uint24 next;
        // Wraps only after 16.7 million rotations of one device, when every earlier rotation signature has
        // long passed its deadline.
        unchecked {
            next = keyNonce(word) + 1;
        }
        return
            (word & ~(_KEY_MASK | (uint256(type(uint24).max) << _NONCE_SHIFT))) |
            uint256(uint160(newKey)) |
            (uint256(next) << _NONCE_SHIFT);
    }
}
