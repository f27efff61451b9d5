// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Device ids of the device registry
 * @notice A device id carries its manufacturer: the top 32 bits are the manufacturer id, the low 224 bits
 * the manufacturer's own unique id for the device (off chain: the low 224 bits of keccak256(raw unique id)).
 * Manufacturer ids start at 1, so no id with a zero prefix, the zero id included, belongs to anyone.
 *
 * A device's owner and reputation word is keyed by its 96-bit reference, `manufacturerId << 64 | low 64 bits
 * of the id`, so that a score batch addresses a device in 12 bytes rather than 32 (see
 * `IDeviceReputation.updateScoresPacked`). Honest ids (random low bits) share a reference with probability
 * ~n²/2⁶⁵ within one manufacturer's n devices. Only a manufacturer registers ids in its namespace, so only it
 * can make two ids share a reference, and the registry refuses to activate the second one
 * (`DeviceRefTaken`): such a collision harms only that manufacturer's own device.
 */
library DeviceId {
    uint256 private constant _MANUFACTURER_SHIFT = 224;

    /// @notice The manufacturer whose namespace `deviceId` is in.
    function manufacturerId(bytes32 deviceId) internal pure returns (uint32) {
        return uint32(uint256(deviceId) >> _MANUFACTURER_SHIFT);
    }

    /// @notice The device's 96-bit reference: its manufacturer id, then the low 64 bits of the id.
    function ref(bytes32 deviceId) internal pure returns (uint96 r) {
        assembly ("memory-safe") {
            // The top 32 bits moved down above the low 64 bits; the bits between dropped.
            r := or(shl(64, shr(224, deviceId)), and(deviceId, 0xffffffffffffffff))
        }
    }
}
