// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";

/**
 * @dev One storage word per registered device. Layout, from the lowest bit: device key (160 bits) |
 * status (8) | fee setting (32) | device type (32) | key nonce (24). Registration writes the word with a
 * single SSTORE; the zero word is an unregistered device. The fee setting is a uint16: the top bit of its
 * field (bit 199) marks a device that has been active, set whenever the status becomes Active and never
 * cleared, so that a revoked device tells whether the owner word of its reference is its own.
 *
 * The manufacturer is not stored: it is the prefix of the device id (see {DeviceId}). Its 32 bits hold
 * `feeSetting`: for a device registered from a committed Merkle root, the number of the activation fee in
 * force when the root was committed (1, 2, ...; see RegistryFees), so that its activation is charged that
 * fee whoever registered it; 0 for a device registered one by one or in a batch (current fee).
 */
type PackedDevice is uint256;

using PackedDeviceLibrary for PackedDevice global;

/// @title Accessors of {PackedDevice}
library PackedDeviceLibrary {
    uint256 private constant _STATUS_SHIFT = 160;
    uint256 private constant _FEE_SETTING_SHIFT = 168;
    uint256 private constant _TYPE_SHIFT = 200;
    uint256 private constant _NONCE_SHIFT = 232;
    uint256 private constant _ACTIVATED = 1 << 199;
    uint256 private constant _KEY_MASK = (1 << 160) - 1;
    uint256 private constant _STATUS_MASK = 0xff << _STATUS_SHIFT;
    uint256 private constant _NONCE_MASK = uint256(type(uint24).max) << _NONCE_SHIFT;

    /// @dev A new device's word (key nonce 0).
    function pack(
        address deviceKey_,
        IDeviceRegistry.DeviceStatus status_,
        uint16 feeSetting_,
        uint32 deviceType_
    ) internal pure returns (PackedDevice) {
        return
            PackedDevice.wrap(
                uint256(uint160(deviceKey_)) |
                    (uint256(status_) << _STATUS_SHIFT) |
                    (uint256(feeSetting_) << _FEE_SETTING_SHIFT) |
                    (uint256(deviceType_) << _TYPE_SHIFT) |
                    (status_ == IDeviceRegistry.DeviceStatus.Active ? _ACTIVATED : 0)
            );
    }

    /// @dev True for the word of an id never registered.
    function isEmpty(PackedDevice word) internal pure returns (bool) {
        return PackedDevice.unwrap(word) == 0;
    }

    function deviceKey(PackedDevice word) internal pure returns (address) {
        return address(uint160(PackedDevice.unwrap(word)));
    }

    function status(PackedDevice word) internal pure returns (IDeviceRegistry.DeviceStatus) {
        return IDeviceRegistry.DeviceStatus(uint8(PackedDevice.unwrap(word) >> _STATUS_SHIFT));
    }

    /// @dev The activation-fee setting fixed by the device's whitelist root; 0 for none (see above).
    function feeSetting(PackedDevice word) internal pure returns (uint16) {
        return uint16(PackedDevice.unwrap(word) >> _FEE_SETTING_SHIFT);
    }

    /// @dev True once the device has been active (also after its revocation): the owner and reputation word of
    /// its reference is its own (see {DeviceId-ref}).
    function wasActivated(PackedDevice word) internal pure returns (bool) {
        return PackedDevice.unwrap(word) & _ACTIVATED != 0;
    }

    function deviceType(PackedDevice word) internal pure returns (uint32) {
        return uint32(PackedDevice.unwrap(word) >> _TYPE_SHIFT);
    }

    function keyNonce(PackedDevice word) internal pure returns (uint24) {
        return uint24(PackedDevice.unwrap(word) >> _NONCE_SHIFT);
    }

    function withStatus(
        PackedDevice word,
        IDeviceRegistry.DeviceStatus newStatus
    ) internal pure returns (PackedDevice) {
        uint256 activated = newStatus == IDeviceRegistry.DeviceStatus.Active ? _ACTIVATED : 0;
        return
            PackedDevice.wrap(
                (PackedDevice.unwrap(word) & ~_STATUS_MASK) | (uint256(newStatus) << _STATUS_SHIFT) | activated
            );
    }

    /// @dev Replaces the key and advances the nonce.
    function withRotatedKey(PackedDevice word, address newKey) internal pure returns (PackedDevice) {
        uint24 next;
        // Wraps (to 0, by design) only after 16.7 million rotations of one device, when every earlier
        // rotation signature has long passed its deadline.
        unchecked {
            next = keyNonce(word) + 1;
        }
        return
            PackedDevice.wrap(
                (PackedDevice.unwrap(word) & ~(_KEY_MASK | _NONCE_MASK)) |
                    uint256(uint160(newKey)) |
                    (uint256(next) << _NONCE_SHIFT)
            );
    }
}
