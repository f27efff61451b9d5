// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IDeviceWalletFactory} from "../interfaces/IDeviceWalletFactory.sol";
import {DeviceWallet} from "./DeviceWallet.sol";

/// @title Deploys device wallets as EIP-1167 clones with the device id as an immutable argument
/// @notice See {IDeviceWalletFactory}.
contract DeviceWalletFactory is IDeviceWalletFactory {
    address private immutable _implementation;

    constructor(IDeviceRegistry registry) {
        // The implementation is locked in its constructor: it can never be initialised.
        _implementation = address(new DeviceWallet(registry));
    }

    /// @inheritdoc IDeviceWalletFactory
    function createWallet(WalletConfig calldata config) external returns (address wallet) {
        wallet = Clones.cloneDeterministicWithImmutableArgs(
            _implementation,
            abi.encode(config.deviceId),
            _salt(config)
        );
        DeviceWallet(payable(wallet)).initialize(
            config.owners,
            config.threshold,
            config.deviceKey,
            config.period,
            config.assets,
            config.limits
        );
        emit WalletCreated(wallet, config.deviceId, config.deviceKey, config.owners, config.threshold);
    }

    /// @inheritdoc IDeviceWalletFactory
    function predictWallet(WalletConfig calldata config) external view returns (address) {
        return
            Clones.predictDeterministicAddressWithImmutableArgs(
                _implementation,
                abi.encode(config.deviceId),
                _salt(config)
            );
    }

    /// @inheritdoc IDeviceWalletFactory
    function implementation() external view returns (address) {
        return _implementation;
    }

    /// @dev The whole configuration, not only owners, threshold and device: otherwise anyone could create
    /// the wallet at a funded predicted address with their own device key and limits.
    function _salt(WalletConfig calldata config) private pure returns (bytes32) {
        return keccak256(abi.encode(config));
    }
}
