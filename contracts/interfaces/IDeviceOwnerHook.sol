// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title What the registry tells a contract that owns a device
 * @notice When a device is revoked, transferred to a new owner or given a new key, the registry calls the
 * owner it had (if that owner is a contract) with a fixed gas budget (`DeviceRegistry.OWNER_HOOK_GAS`),
 * after its own state is final. The registry refuses to start the call with less gas than that budget, so
 * the owner always hears about the change; a hook that reverts is ignored, so no owner can block a
 * revocation, a transfer or a rotation. A device wallet uses this to stop device spending at once without
 * asking the registry on every spend.
 */
interface IDeviceOwnerHook {
    function onDeviceRecordChanged(bytes32 deviceId) external;
}
