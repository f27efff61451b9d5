// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentChannels} from "../interfaces/IPaymentChannels.sol";

/// @title One storage word per channel
/// @notice Layout, from the lowest bit: deposit (96 bits) | expiry (40) | status (8). A closed or reclaimed
/// channel's word is cleared (its id can never recur: it includes the opening block).
library ChannelState {
    uint256 private constant _EXPIRY_SHIFT = 96;
    uint256 private constant _STATUS_SHIFT = 136;

    function pack(uint96 deposit_, uint40 expiry_, IPaymentChannels.Status status_) internal pure returns (uint256) {
        return uint256(deposit_) | (uint256(expiry_) << _EXPIRY_SHIFT) | (uint256(status_) << _STATUS_SHIFT);
    }

    function deposit(uint256 word) internal pure returns (uint96) {
        return uint96(word);
    }

    function expiry(uint256 word) internal pure returns (uint40) {
        return uint40(word >> _EXPIRY_SHIFT);
    }

    function status(uint256 word) internal pure returns (IPaymentChannels.Status) {
        return IPaymentChannels.Status(uint8(word >> _STATUS_SHIFT));
    }
}
