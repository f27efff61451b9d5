// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDeviceOwnerHook} from "../interfaces/IDeviceOwnerHook.sol";

/// @notice A device owner whose hook reverts or burns all the gas it gets: neither may block a revocation
/// or a transfer in the registry.
contract HostileDeviceOwner is IDeviceOwnerHook {
    error Refused();

    /// @notice 0: revert, 1: burn all gas.
    uint8 public mode;

    function setMode(uint8 mode_) external {
        mode = mode_;
    }

    /// @inheritdoc IDeviceOwnerHook
    function onDeviceRecordChanged(bytes32) external view override {
        if (mode == 0) revert Refused();
        // solhint-disable-next-line no-empty-blocks
        while (gasleft() > 0) {}
    }

    /// @notice Calls `target` (the registry) as this owner.
    function call(address target, bytes calldata data) external {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
