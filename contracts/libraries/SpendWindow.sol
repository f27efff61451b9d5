// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title A device's spending allowance for one asset, with its relay nonce, in one storage word
 * @notice Layout, from the lowest bit: limit (72 bits) | spent in the current period (72) | spent in the
 * previous period (72) | current period's index, truncated (8) | relay nonce (32).
 *
 * Periods are aligned: `index = timestamp / period`. A spend is allowed when it, plus what was spent in
 * the current and the previous period, stays within the limit. Any span of one period lies within the
 * current and previous period of its last spend, so the device never spends more than the limit in any
 * span of one period (a sliding guarantee), at the price of waiting up to two periods after spending it
 * all. The index is kept to 8 bits: after an idle gap of a multiple of 256 periods an old spend may be
 * counted again, which only ever errs towards spending less. Limits go up to 2^72 - 1 base units
 * (4,722 whole units of an 18-decimal token) per period.
 *
 * The relay nonce lives here so that a relayed spend writes one word: the word it writes anyway.
 */
library SpendWindow {
    uint256 private constant _MASK72 = (1 << 72) - 1;
    uint256 private constant _INDEX_SHIFT = 216;
    uint256 private constant _NONCE_SHIFT = 224;

    function limit(uint256 word) internal pure returns (uint256) {
        return word & _MASK72;
    }

    function nonce(uint256 word) internal pure returns (uint256) {
        return word >> _NONCE_SHIFT;
    }

    /// @dev What was spent in the current and the previous period at `nowIndex`.
    function spentAt(uint256 word, uint256 nowIndex) internal pure returns (uint256 current, uint256 previous) {
        uint256 elapsed;
        // Cannot underflow into a wrong answer: both indexes are taken modulo 2^8 and the difference is masked.
        unchecked {
            elapsed = (nowIndex - (word >> _INDEX_SHIFT)) & 0xff;
        }
        if (elapsed == 0) return ((word >> 72) & _MASK72, (word >> 144) & _MASK72);
        if (elapsed == 1) return (0, (word >> 72) & _MASK72);
        return (0, 0);
    }

    /// @dev What may still be spent at `nowIndex`.
    function available(uint256 word, uint256 nowIndex) internal pure returns (uint256) {
        (uint256 current, uint256 previous) = spentAt(word, nowIndex);
        uint256 cap = limit(word);
        // Cannot overflow: both are below 2^72.
        unchecked {
            return current + previous >= cap ? 0 : cap - current - previous;
        }
    }

    /// @dev The word after spending `amount` at `nowIndex` (nonce kept), or `ok == false` above the limit.
    function spend(uint256 word, uint256 amount, uint256 nowIndex) internal pure returns (bool ok, uint256 updated) {
        (uint256 current, uint256 previous) = spentAt(word, nowIndex);
        uint256 cap = limit(word);
        // Cannot overflow: current and previous are below 2^72, and amount is checked against the limit first.
        unchecked {
            if (amount > cap || current + previous + amount > cap) return (false, word);
            updated =
                cap |
                ((current + amount) << 72) |
                (previous << 144) |
                ((nowIndex & 0xff) << _INDEX_SHIFT) |
                (word & (type(uint256).max << _NONCE_SHIFT));
        }
        ok = true;
    }

    /// @dev The same window state with a new limit.
    function withLimit(uint256 word, uint72 newLimit) internal pure returns (uint256) {
        return (word & ~_MASK72) | uint256(newLimit);
    }

    /// @dev The word with its relay nonce advanced; callers check `nonce(word) < type(uint32).max` first.
    function withNextNonce(uint256 word) internal pure returns (uint256) {
        // Cannot overflow: the nonce is the top field and the caller checked it is below its maximum.
        unchecked {
            return word + (1 << _NONCE_SHIFT);
        }
    }
}
