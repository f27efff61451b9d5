// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Device wallet factory
 * @notice Creates device wallets as EIP-1167 clones of one locked implementation, with the device id as an
 * immutable argument appended to the clone's code (no storage write, no SLOAD to read it). Addresses are
 * CREATE2-deterministic from the whole configuration (owners, threshold, device id, device key, period,
 * limits), so a wallet can be funded before it exists, and nobody can take a predicted address with
 * another configuration.
 */
interface IDeviceWalletFactory {
    struct WalletConfig {
        /// @notice Sorted, strictly increasing.
        address[] owners;
        uint8 threshold;
        bytes32 deviceId;
        address deviceKey;
        /// @notice Length of a spending period, in seconds.
        uint32 period;
        /// @notice Assets the device may spend (address(0): ETH) and each one's limit per period.
        address[] assets;
        uint72[] limits;
    }

    /// @notice A device wallet was created.
    /// @param wallet The wallet's address.
    /// @param deviceId The device it spends for.
    /// @param deviceKey The device's key.
    /// @param owners The owners, increasing.
    /// @param threshold Signatures an execution needs.
    event WalletCreated(
        address indexed wallet,
        bytes32 indexed deviceId,
        address deviceKey,
        address[] owners,
        uint8 threshold
    );

    function createWallet(WalletConfig calldata config) external returns (address wallet);

    function predictWallet(WalletConfig calldata config) external view returns (address);

    function implementation() external view returns (address);
}
