// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IERC827} from "./IERC827.sol";

/**
 * @title ThingToken
 * @notice The ThingLedger network token: an 18-decimal ERC-20 with a fixed supply minted once, at
 * deployment, to a treasury. It has no owner and no power over balances: no pause, no claw-back, no
 * later mint. It adds EIP-2612 `permit` and the safe ERC-827 "and call" functions of {IERC827}.
 */
interface IThingToken is IERC20Metadata, IERC20Permit, IERC827 {}
