// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title A device's spending allowance for one asset, in one storage word
/// @notice Layout, from the lowest bit: limit (80 bits) | spent in the current period (80) | spent in the
/// previous period (80) | current period's index, truncated (16). Periods are aligned:
/// `index = timestamp / period`. A spend is allowed when it, plus what was spent in the current and the
/// previous period, stays within the limit. Any span of one period lies within the current and previous
/// period of its last spend, so the device never spends more than the limit in any span of one period
/// (a sliding guarantee), at the price of waiting up to two periods after spending it all. The index is
/// kept to 16 bits: after 65,536 idle periods an old spend may be counted again, which only ever errs
/// towards spending less.
library SpendWindow {
    uint256 private constant _MASK80 = (1 << 80) - 1;

    function limit(uint256 word) internal pure returns (uint80) {
        return uint80(word);
    }

    function pack(uint80 limit_, uint80 current, uint80 previous, uint16 index) internal pure returns (uint256) {
        return uint256(limit_) | (uint256(current) << 80) | (uint256(previous) << 160) | (uint256(index) << 240);
    }

    /// @dev What was spent in the current and the previous period at `nowIndex`.
    function spentAt(uint256 word, uint256 nowIndex) internal pure returns (uint256 current, uint256 previous) {
        // Cannot underflow: both are taken modulo 2^16 and the difference is masked.
        uint256 elapsed;
        unchecked {
            elapsed = (nowIndex - (word >> 240)) & 0xffff;
        }
        if (elapsed == 0) return ((word >> 80) & _MASK80, (word >> 160) & _MASK80);
        if (elapsed == 1) return (0, (word >> 80) & _MASK80);
        return (0, 0);
    }

    /// @dev The word after spending `amount` at `nowIndex`, or `ok == false` if that exceeds the limit.
    function spend(uint256 word, uint256 amount, uint256 nowIndex) internal pure returns (bool ok, uint256 updated) {
        (uint256 current, uint256 previous) = spentAt(word, nowIndex);
        uint256 cap = limit(word);
        // Cannot overflow: current and previous are 80-bit values; amount is checked against the limit first.
        unchecked {
            if (amount > cap || current + previous + amount > cap) return (false, word);
            updated = pack(uint80(cap), uint80(current + amount), uint80(previous), uint16(nowIndex));
        }
        ok = true;
    }

    /// @dev The same window state with a new limit.
    function withLimit(uint256 word, uint80 newLimit) internal pure returns (uint256) {
        return (word & ~_MASK80) | uint256(newLimit);
    }
}
