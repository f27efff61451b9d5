// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Errors shared by the ThingLedger contracts
 * @notice Declared once here and inherited by every interface that raises them (the registry, the device
 * wallet, the payment channels), so each has one selector and one meaning everywhere.
 */
interface IThingLedgerErrors {
    /// @notice An address that must be set (an owner, an account, a payout, a device key) is zero.
    error ZeroAddress();

    /// @notice A signature was submitted after its deadline.
    /// @param deadline The signed deadline (a Unix time in seconds), now in the past.
    error SignatureExpired(uint256 deadline);

    /// @notice Arrays that pair up entry by entry have different lengths.
    error LengthMismatch();
}
