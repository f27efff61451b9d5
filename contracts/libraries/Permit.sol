// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title Submitting an EIP-2612 permit that may already have been used
library Permit {
    /**
     * @dev Submits `owner`'s permit of `value` to `spender` and ignores a failure: anyone who saw the
     * signature may have submitted it first (front-running it), in which case the allowance is already
     * there; if it is not, the pull that follows reverts. So a front-run permit cannot block the call.
     */
    function tryPermit(
        IERC20Permit token,
        address owner,
        address spender,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) internal {
        // A failed permit is ignored on purpose (see above).
        // solhint-disable-next-line no-empty-blocks
        try token.permit(owner, spender, value, deadline, v, r, s) {} catch {}
    }
}
