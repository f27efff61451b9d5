// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @dev A device's spending allowance for one asset, with its relay nonce, in one storage word. Layout,
 * from the lowest bit: limit (72 bits) | spent in the current period (72) | spent in the previous period
 * (72) | current period's index, truncated (8) | relay nonce (32).
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
type SpendWindow is uint256;

using SpendWindowLibrary for SpendWindow global;

/// @title Accessors and the spending rule of {SpendWindow}
library SpendWindowLibrary {
    uint256 private constant _MASK72 = (1 << 72) - 1;
    uint256 private constant _CURRENT_SHIFT = 72;
    uint256 private constant _PREVIOUS_SHIFT = 144;
    uint256 private constant _INDEX_SHIFT = 216;
    uint256 private constant _NONCE_SHIFT = 224;

    /// @dev A fresh window: `limit_`, nothing spent, nonce 0.
    function fromLimit(uint72 limit_) internal pure returns (SpendWindow) {
        return SpendWindow.wrap(limit_);
    }

    function limit(SpendWindow word) internal pure returns (uint256) {
        return SpendWindow.unwrap(word) & _MASK72;
    }

    function nonce(SpendWindow word) internal pure returns (uint256) {
        return SpendWindow.unwrap(word) >> _NONCE_SHIFT;
    }

    /// @dev What was spent in the current and the previous period at `nowIndex`.
    function spentAt(SpendWindow word, uint256 nowIndex) internal pure returns (uint256 current, uint256 previous) {
        uint256 w = SpendWindow.unwrap(word);
        uint256 elapsed;
        // May wrap, on purpose: both indexes are taken modulo 2^8 and the difference is masked to 8 bits.
        unchecked {
            elapsed = (nowIndex - (w >> _INDEX_SHIFT)) & 0xff;
        }
        if (elapsed == 0) return ((w >> _CURRENT_SHIFT) & _MASK72, (w >> _PREVIOUS_SHIFT) & _MASK72);
        if (elapsed == 1) return (0, (w >> _CURRENT_SHIFT) & _MASK72);
        return (0, 0);
    }

    /// @dev What may still be spent at `nowIndex`.
    function available(SpendWindow word, uint256 nowIndex) internal pure returns (uint256) {
        (uint256 current, uint256 previous) = spentAt(word, nowIndex);
        uint256 cap = limit(word);
        // Cannot overflow: all three are below 2^72. Cannot underflow: subtracted only when below the cap.
        unchecked {
            return current + previous >= cap ? 0 : cap - current - previous;
        }
    }

    /// @dev The word after spending `amount` at `nowIndex` (nonce kept), or `ok == false` above the limit.
    function spend(
        SpendWindow word,
        uint256 amount,
        uint256 nowIndex
    ) internal pure returns (bool ok, SpendWindow updated) {
        (uint256 current, uint256 previous) = spentAt(word, nowIndex);
        uint256 cap = limit(word);
        // Cannot overflow: current and previous are below 2^72, and amount is checked against the limit
        // (< 2^72) before it is added; the new current spend stays within the limit, so within 72 bits.
        unchecked {
            if (amount > cap || current + previous + amount > cap) return (false, word);
            updated = SpendWindow.wrap(
                cap |
                    ((current + amount) << _CURRENT_SHIFT) |
                    (previous << _PREVIOUS_SHIFT) |
                    ((nowIndex & 0xff) << _INDEX_SHIFT) |
                    (SpendWindow.unwrap(word) & (type(uint256).max << _NONCE_SHIFT))
            );
        }
        ok = true;
    }

    /// @dev The same window state with a new limit.
    function withLimit(SpendWindow word, uint72 newLimit) internal pure returns (SpendWindow) {
        return SpendWindow.wrap((SpendWindow.unwrap(word) & ~_MASK72) | uint256(newLimit));
    }

    /// @dev The word with its relay nonce advanced; callers check `nonce(word) < type(uint32).max` first.
    function withNextNonce(SpendWindow word) internal pure returns (SpendWindow) {
        // Cannot overflow: the nonce is the top field and the caller checked it is below its maximum.
        unchecked {
            return SpendWindow.wrap(SpendWindow.unwrap(word) + (1 << _NONCE_SHIFT));
        }
    }
}
