// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Device ids of the device registry
 * @notice A device id carries its manufacturer: the top 32 bits are the manufacturer id, the low 224 bits
 * the manufacturer's own unique id for the device (off chain: the low 224 bits of keccak256(raw unique id)).
 * Manufacturer ids start at 1, so no id with a zero prefix, the zero id included, belongs to anyone.
 */
library DeviceId {
    uint256 private constant _MANUFACTURER_SHIFT = 224;

    /// @notice The manufacturer whose namespace `deviceId` is in.
    function manufacturerId(bytes32 deviceId) internal pure returns (uint32) {
        return uint32(uint256(deviceId) >> _MANUFACTURER_SHIFT);
    }
}
