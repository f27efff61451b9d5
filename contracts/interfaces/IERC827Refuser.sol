// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title A contract that takes no tokens through ERC-827 "transfer and call"
 * @notice ThingToken asks the recipient of a `transferAndCall` or `transferFromAndCall` whether it refuses
 * such transfers, and reverts with {IERC827-UnsolicitedTransfer} if it does, before moving anything.
 * A contract that takes its payments by pulling (`approveAndCall`, then `transferFrom`) implements this,
 * so tokens pushed at it with any call data, a state-changing function, a view or none, cannot be
 * trapped in it. `approveAndCall` is never asked. A contract that does not implement this (or answers
 * anything else) keeps receiving "and call" transfers.
 */
interface IERC827Refuser {
    /// @notice Returns this function's own selector to refuse "transfer and call" transfers.
    function refusesTransfersAndCall() external pure returns (bytes4);
}
