// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @notice A smart-contract account (a Safe, say) that consents by ERC-1271: it answers the magic value for
/// digests its holder approved, and nothing else. Used to show a contract owner can consent to a relayed
/// activation.
contract ConsentingWallet is IERC1271 {
    address private immutable _holder;
    mapping(bytes32 digest => bool) public approvedDigests;

    error NotHolder();

    constructor() {
        _holder = msg.sender;
    }

    function approveDigest(bytes32 digest) external {
        if (msg.sender != _holder) revert NotHolder();
        approvedDigests[digest] = true;
    }

    function approveToken(IERC20 token, address spender, uint256 amount) external {
        if (msg.sender != _holder) revert NotHolder();
        token.approve(spender, amount);
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 digest, bytes calldata) external view returns (bytes4) {
        return approvedDigests[digest] ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}
