// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentChannels} from "../interfaces/IPaymentChannels.sol";

/// @notice A channel's one storage word.
/// @dev Layout, from the lowest bit: deposit (96 bits) | expiry (40) | status (8). A closed or reclaimed
/// channel's word is cleared (its id can never recur: it includes the opening block).
type ChannelState is uint256;

using ChannelStateLibrary for ChannelState global;

/// @title Accessors of a {ChannelState} word
library ChannelStateLibrary {
    uint256 private constant _EXPIRY_SHIFT = 96;
    uint256 private constant _STATUS_SHIFT = 136;

    /// @notice The word of a channel with `deposit_`, `expiry_` and `status_`.
    function pack(
        uint96 deposit_,
        uint40 expiry_,
        IPaymentChannels.Status status_
    ) internal pure returns (ChannelState) {
        return
            ChannelState.wrap(
                uint256(deposit_) | (uint256(expiry_) << _EXPIRY_SHIFT) | (uint256(status_) << _STATUS_SHIFT)
            );
    }

    /// @notice Whether the word is unused: no channel with this id was opened, or it has ended.
    function isEmpty(ChannelState state) internal pure returns (bool) {
        return ChannelState.unwrap(state) == 0;
    }

    /// @notice The deposit, in wei or token base units.
    function deposit(ChannelState state) internal pure returns (uint96) {
        return uint96(ChannelState.unwrap(state));
    }

    /// @notice The expiry, in seconds since the epoch.
    function expiry(ChannelState state) internal pure returns (uint40) {
        return uint40(ChannelState.unwrap(state) >> _EXPIRY_SHIFT);
    }

    /// @notice Open, or None once the channel has ended (or never existed).
    function status(ChannelState state) internal pure returns (IPaymentChannels.Status) {
        return IPaymentChannels.Status(uint8(ChannelState.unwrap(state) >> _STATUS_SHIFT));
    }
}
