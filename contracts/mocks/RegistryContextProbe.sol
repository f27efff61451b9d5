// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {DeviceRegistry} from "../registry/DeviceRegistry.sol";

/// @dev Test-only: the registry with its ERC-2771 `_msgData` exposed (no registry function reads it, but
/// `RegistryBase` must resolve it between `Context` and `ERC2771Context`).
contract RegistryContextProbe is DeviceRegistry {
    constructor(
        address admin,
        IERC20 token_,
        uint256 registrationFee_,
        uint256 activationFee_,
        uint256 epochLength_,
        uint256 auditReward_
    ) DeviceRegistry(admin, token_, registrationFee_, activationFee_, epochLength_, auditReward_) {}

    function msgData() external view returns (bytes memory) {
        return _msgData();
    }
}
