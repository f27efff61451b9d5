// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IERC827Refuser} from "../interfaces/IERC827Refuser.sol";
import {Permit} from "../libraries/Permit.sol";
import {RegistryBase} from "./RegistryBase.sol";

/**
 * @title Network roles and fees of the device registry (a module beside the registry and reputation)
 * @notice The admin admits and removes manufacturers and sets fees within hard caps. Manufacturers keep a
 * prepaid fee credit. The reward pool is everything the registry holds beyond that credit and the
 * auditors' reserve, so it is conserved by construction.
 */
abstract contract RegistryFees is RegistryBase, IERC827Refuser {
    using SafeERC20 for IERC20;

    /// @notice Hard upper bounds on what the admin may charge.
    uint256 public constant MAX_REGISTRATION_FEE = 100e18;
    uint256 public constant MAX_ACTIVATION_FEE = 100e18;

    /// @dev One slot, read and written once by every registration. `counted` is this manufacturer's share of
    /// `_fees.totalCredit`: its credit when last counted (a deposit, a withdrawal or a collection). Paying a fee
    /// from credit lowers only `credit`, so `credit <= counted` always, and `counted - credit` is fees paid
    /// that the pool does not count yet. Both fit 96 bits: `counted <= totalCredit < 2^96`.
    struct Manufacturer {
        uint32 id;
        bool active;
        uint16 defaultScore;
        uint96 credit;
        uint96 counted;
    }

    mapping(address account => Manufacturer) private _manufacturers;
    mapping(address account => address) private _payouts;
    mapping(uint32 id => address account) private _manufacturerAccounts;
    uint32 private _manufacturerCount;
    /// @dev Set only while the id's account is active: removal and acceptance delete it.
    mapping(uint32 id => address newAccount) private _pendingAccounts;

    /// @dev Fees and the credit total share one slot, which a registration only reads. Fees are capped at
    /// 100e18 < 2^72; the credit total is backed by tokens held.
    struct FeeState {
        uint72 registrationFee;
        uint72 activationFee;
        /// @dev Sum of all manufacturers' `counted` credit, which is at least the sum of their credit; the
        /// reward pool is the balance beyond it, so the pool never includes anyone's credit.
        uint96 totalCredit;
        /// @dev The number of the activation fee in force in `_activationFeeSettings` (1, 2, ...). 65,535
        /// changes are 179 years at one a day; the next change then reverts.
        uint16 activationFeeSetting;
    }

    FeeState private _fees;
    /// @dev Every activation fee ever in force, by number: a whitelist root records the number in force
    /// when it was committed, and its devices pay that fee however they are activated.
    mapping(uint16 setting => uint256 fee) private _activationFeeSettings;

    constructor(uint256 initialRegistrationFee, uint256 initialActivationFee) {
        _setFees(initialRegistrationFee, initialActivationFee);
    }

    // ---------------------------------------------------------------- admin

    /// @inheritdoc IDeviceRegistry
    function addManufacturer(
        address account,
        address payout,
        uint16 defaultScore
    ) external onlyOwner returns (uint32 id) {
        if (account == address(0) || payout == address(0)) revert ZeroAddress();
        if (defaultScore > MAX_SCORE) revert ScoreOutOfRange(defaultScore);
        Manufacturer storage m = _manufacturers[account];
        if (m.active) revert ManufacturerAlreadyActive(account);
        id = m.id;
        if (id == 0) {
            // Ids start at 1 so that 0 means "unknown"; 2^32 manufacturers cannot be admitted in practice.
            id = ++_manufacturerCount;
            m.id = id;
            _manufacturerAccounts[id] = account;
            _payouts[account] = payout;
        } else {
            // A re-admitted manufacturer keeps the payout it set: its credit is its own, so the admin must not
            // be able to point it elsewhere (re-admit with its own payout, remove, and the credit follows).
            payout = _payouts[account];
        }
        m.active = true;
        m.defaultScore = defaultScore;
        emit ManufacturerAdded(id, account, payout, defaultScore);
    }

    /// @inheritdoc IDeviceRegistry
    function removeManufacturer(address account) external onlyOwner {
        Manufacturer storage m = _manufacturers[account];
        if (!m.active) revert NotActiveManufacturer(account);
        m.active = false;
        // Removal ends every power, a pending move included: re-admission must not revive it.
        delete _pendingAccounts[m.id];
        emit ManufacturerRemoved(m.id, account);
    }

    /// @inheritdoc IDeviceRegistry
    function setFees(uint256 newRegistrationFee, uint256 newActivationFee) external onlyOwner {
        _setFees(newRegistrationFee, newActivationFee);
    }

    function _setFees(uint256 newRegistrationFee, uint256 newActivationFee) private {
        if (newRegistrationFee > MAX_REGISTRATION_FEE) revert FeeAboveCap(newRegistrationFee, MAX_REGISTRATION_FEE);
        if (newActivationFee > MAX_ACTIVATION_FEE) revert FeeAboveCap(newActivationFee, MAX_ACTIVATION_FEE);
        FeeState memory fees = _fees;
        if (fees.activationFeeSetting == 0 || newActivationFee != fees.activationFee) {
            // Checked: reverts after 65,535 activation fees (see FeeState).
            uint16 setting = fees.activationFeeSetting + 1;
            _fees.activationFeeSetting = setting;
            _activationFeeSettings[setting] = newActivationFee;
        }
        // Both fit in 72 bits: they are capped at 100e18 < 2^72 above.
        _fees.registrationFee = uint72(newRegistrationFee);
        _fees.activationFee = uint72(newActivationFee);
        emit FeesChanged(newRegistrationFee, newActivationFee);
    }

    // ---------------------------------------------------------------- manufacturers

    /// @inheritdoc IDeviceRegistry
    function setPayout(address payout) external {
        address account = _msgSender();
        Manufacturer storage m = _manufacturers[account];
        if (m.id == 0) revert UnknownManufacturer(account);
        if (!m.active) revert NotActiveManufacturer(account);
        if (payout == address(0)) revert ZeroAddress();
        _payouts[account] = payout;
        emit ManufacturerPayoutChanged(m.id, payout);
    }

    /// @inheritdoc IDeviceRegistry
    function proposeManufacturerAccount(address newAccount) external {
        (Manufacturer storage m, address account) = _activeManufacturer();
        uint32 taken = _manufacturers[newAccount].id;
        if (taken != 0) revert AccountIsManufacturer(newAccount, taken);
        uint32 id = m.id;
        _pendingAccounts[id] = newAccount;
        emit ManufacturerAccountProposed(id, account, newAccount);
    }

    /// @inheritdoc IDeviceRegistry
    function acceptManufacturerAccount(uint32 id) external {
        address newAccount = _msgSender();
        // A proposal exists only while the id's account is active (removal deletes it), so the old account
        // needs no second check; the zero address, a cancelled proposal, never matches a caller.
        if (id == 0 || _pendingAccounts[id] != newAccount) revert NotPendingManufacturerAccount(id, newAccount);
        // The new account may have been admitted as a manufacturer since the proposal.
        uint32 taken = _manufacturers[newAccount].id;
        if (taken != 0) revert AccountIsManufacturer(newAccount, taken);
        address oldAccount = _manufacturerAccounts[id];
        delete _pendingAccounts[id];
        _manufacturers[newAccount] = _manufacturers[oldAccount];
        delete _manufacturers[oldAccount];
        _payouts[newAccount] = _payouts[oldAccount];
        delete _payouts[oldAccount];
        _manufacturerAccounts[id] = newAccount;
        emit ManufacturerAccountChanged(id, oldAccount, newAccount);
    }

    /// @inheritdoc IDeviceRegistry
    function depositFeeCredit(address account, uint256 amount) public {
        Manufacturer storage m = _manufacturers[account];
        if (m.id == 0) revert UnknownManufacturer(account);
        uint256 spent = _countSpent(m);
        uint256 credit = m.credit + amount;
        // The deposit counts the manufacturer anew: its spent fees join the pool, its credit is all counted.
        // Cannot underflow: totalCredit is the sum of every `counted`, this one (credit + spent) included.
        uint256 total = _fees.totalCredit - spent + amount;
        if (total > type(uint96).max) revert CreditOverflow();
        address payer = _msgSender();
        _feeToken().safeTransferFrom(payer, address(this), amount);
        // Both fit in 96 bits: credit <= total, checked above.
        m.credit = uint96(credit);
        m.counted = uint96(credit);
        _fees.totalCredit = uint96(total);
        emit FeeCreditDeposited(m.id, payer, amount);
    }

    /// @inheritdoc IDeviceRegistry
    function depositFeeCreditWithPermit(
        address account,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _tryPermit(_msgSender(), amount, deadline, v, r, s);
        depositFeeCredit(account, amount);
    }

    /// @inheritdoc IDeviceRegistry
    function withdrawFeeCredit() external returns (uint256 amount) {
        address account = _msgSender();
        Manufacturer storage m = _manufacturers[account];
        amount = m.credit;
        if (amount == 0) revert NothingToWithdraw(account);
        _countSpent(m);
        // Checked (cannot fail): totalCredit is the sum of every `counted`, this one included.
        _fees.totalCredit -= m.counted;
        m.credit = 0;
        m.counted = 0;
        address payout = _payouts[account];
        _feeToken().safeTransfer(payout, amount);
        emit FeeCreditWithdrawn(m.id, payout, amount);
    }

    /// @inheritdoc IDeviceRegistry
    function collectFeesPaidFromCredit(address[] calldata accounts) external returns (uint256 collected) {
        uint256 n = accounts.length;
        for (uint256 i; i < n; ++i) {
            Manufacturer storage m = _manufacturers[accounts[i]];
            uint256 spent = _countSpent(m);
            if (spent != 0) {
                m.counted = m.credit;
                // Cannot overflow: the spent amounts are parts of totalCredit < 2^96.
                unchecked {
                    collected += spent;
                }
            }
        }
        // Checked (cannot fail): each spent amount was part of totalCredit.
        if (collected != 0) _fees.totalCredit -= uint96(collected);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getManufacturer(address account) external view returns (ManufacturerView memory) {
        Manufacturer memory m = _manufacturers[account];
        return ManufacturerView(m.id, account, _payouts[account], m.defaultScore, m.active, m.credit);
    }

    /// @inheritdoc IDeviceRegistry
    function manufacturerAccount(uint32 id) external view returns (address) {
        return _manufacturerAccounts[id];
    }

    /// @inheritdoc IDeviceRegistry
    function manufacturerCount() external view returns (uint32) {
        return _manufacturerCount;
    }

    /// @inheritdoc IDeviceRegistry
    function pendingManufacturerAccount(uint32 id) external view returns (address) {
        return _pendingAccounts[id];
    }

    /// @inheritdoc IDeviceRegistry
    function registrationFee() external view returns (uint256) {
        return _fees.registrationFee;
    }

    /// @inheritdoc IDeviceRegistry
    function activationFee() external view returns (uint256) {
        return _fees.activationFee;
    }

    /// @inheritdoc IDeviceRegistry
    function rewardPool() external view returns (uint256) {
        return _rewardPool();
    }

    /// @inheritdoc IDeviceRegistry
    function uncollectedPaidFees(address account) external view returns (uint256) {
        Manufacturer memory m = _manufacturers[account];
        return m.counted - m.credit;
    }

    /// @inheritdoc IERC827Refuser
    /// @dev Fees and credit are pulled (approveAndCall, approve, permit); tokens pushed with transferAndCall
    /// would silently join the reward pool.
    function refusesTransfersAndCall() external pure returns (bytes4) {
        return IERC827Refuser.refusesTransfersAndCall.selector;
    }

    // ---------------------------------------------------------------- internal

    /// @dev The calling manufacturer's record, which must be active.
    function _activeManufacturer() internal view returns (Manufacturer storage m, address account) {
        account = _msgSender();
        m = _manufacturers[account];
        if (!m.active) revert NotActiveManufacturer(account);
    }

    /// @dev Charges `count` registration fees plus `activations` (0, or 1 with `count` 1) activation fees to
    /// manufacturer `m`: from its credit first, any shortfall pulled from the payer. The fee per device,
    /// registration plus any activation, must not be above `maxFee`.
    function _chargeManufacturer(Manufacturer storage m, uint256 count, uint256 activations, uint256 maxFee) internal {
        FeeState memory fees = _fees;
        uint256 perDevice = fees.registrationFee + activations * fees.activationFee;
        if (perDevice > maxFee) revert FeeAboveMax(perDevice, maxFee);
        uint256 amount = count * fees.registrationFee + activations * fees.activationFee;
        if (amount == 0) return;
        // Only the manufacturer's own slot is written: what it spends stays in totalCredit (through
        // `counted`) until counted by a collection, a deposit or a withdrawal, so the pool is never over-stated.
        uint256 credit = m.credit;
        if (credit >= amount) {
            // Cannot underflow: credit >= amount.
            unchecked {
                m.credit = uint96(credit - amount);
            }
        } else {
            if (credit != 0) m.credit = 0;
            _feeToken().safeTransferFrom(_msgSender(), address(this), amount - credit);
        }
    }

    /// @dev Fees `m` paid from its credit since it was last counted, announced as joining the pool; the
    /// caller then counts them (lowers `counted` and totalCredit by them).
    function _countSpent(Manufacturer storage m) private returns (uint256 spent) {
        uint256 credit = m.credit;
        uint256 counted = m.counted;
        // Cannot underflow: credit <= counted (see Manufacturer).
        unchecked {
            spent = counted - credit;
        }
        if (spent != 0) emit PaidFeesCollected(m.id, spent);
    }

    /// @dev Pulls the activation fee from `payer` into the pool, if it is not above `maxFee`.
    function _chargeActivation(address payer, uint256 fee, uint256 maxFee) internal {
        if (fee > maxFee) revert FeeAboveMax(fee, maxFee);
        if (fee != 0) _feeToken().safeTransferFrom(payer, address(this), fee);
    }

    /// @dev Pulls `fee` from `owner_`, who consented (the caller checked it), after trying `owner_`'s permit
    /// for `maxFee` when one is given (`v` != 0): the owner signs its permit for the ceiling it agreed to, so a
    /// fee lowered before inclusion does not void it. A failed permit is ignored: it may have been submitted by
    /// someone else already, in which case the allowance is there; if it is not, the pull reverts. What is
    /// left of the allowance can be pulled from `owner_` only by `owner_`'s own call or another consent.
    function _chargeOwner(
        address owner_,
        uint256 fee,
        uint256 maxFee,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) internal {
        if (v != 0) _tryPermit(owner_, maxFee, deadline, v, r, s);
        _feeToken().safeTransferFrom(owner_, address(this), fee);
    }

    /// @dev True when `account` is the current account of manufacturer `id` and is active. A rotated-away
    /// account has no record (id 0), and a re-admitted old account has a new id, so neither matches.
    function _isActiveManufacturer(uint32 id, address account) internal view returns (bool) {
        Manufacturer storage m = _manufacturers[account];
        return m.active && m.id == id;
    }

    /// @dev `owner_`'s permit of `amount` to the registry, ignored if it fails (see {Permit.tryPermit}).
    function _tryPermit(address owner_, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        Permit.tryPermit(IERC20Permit(address(_feeToken())), owner_, address(this), amount, deadline, v, r, s);
    }

    /// @dev The registry's balance beyond the manufacturers' credit and the auditors' reserve.
    function _rewardPool() internal view override returns (uint256) {
        return _feeToken().balanceOf(address(this)) - _fees.totalCredit - _reservedForRewards();
    }

    /// @dev Manufacturer `id`'s current account and the score its devices carry until their first audit.
    function _manufacturerDefaultScore(uint32 id) internal view returns (address account, uint16 defaultScore) {
        account = _manufacturerAccounts[id];
        defaultScore = _manufacturers[account].defaultScore;
    }

    /// @dev The activation fee in force and its number among all activation fees set.
    function _activationFeeSetting() internal view returns (uint256 fee, uint16 setting) {
        return (_fees.activationFee, _fees.activationFeeSetting);
    }

    /// @dev The activation fee of a setting number (0: the fee in force now).
    function _activationFeeOfSetting(uint16 setting) internal view returns (uint256) {
        if (setting == 0) return _fees.activationFee;
        return _activationFeeSettings[setting];
    }
}
