// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IThingLedgerErrors} from "./IThingLedgerErrors.sol";

/**
 * @title ThingLedger device registry
 * @notice Network admins admit manufacturers; manufacturers register devices (one, a batch, or a Merkle
 * whitelist registered lazily); owners activate them with a signature from the device's own key; anyone
 * validates a device and checks its signed identity claims.
 *
 * A device id carries its manufacturer: the top 32 bits are the manufacturer id, the low 224 bits the low
 * 224 bits of keccak256(raw unique id); the raw id never goes on chain. Every registration refuses an id
 * outside the registering manufacturer's namespace ({DeviceIdOutsideNamespace}); a whitelisted device is
 * looked up under the root of the manufacturer its id names. So no manufacturer can register, and thereby
 * block, another manufacturer's device. A device's key is the secp256k1 address derived from its public key.
 *
 * Ids squatted before namespaces (on a deployment without them, where an id was keccak256(raw unique id)
 * and any manufacturer could take any id) are not carried over: the namespaced registry is a new
 * deployment, in which the genuine manufacturer registers its devices under its own namespace, and no one
 * else can. On the old deployment the admin revokes each squatted record with reason code 3
 * ("squatted"), so that validators still reading it see it refused.
 *
 * Fees are in ThingToken and go to the network reward pool. A manufacturer pays registration fees from a
 * prepaid fee credit; any shortfall is pulled from the payer (a prior `approve`, a `permit`, or ERC-827
 * `approveAndCall` into the registration call itself, where the token names the real payer). The
 * activation fee is pulled from whoever submits the activation (normally the owner), or from the owner,
 * with the owner's signed consent for that device, when a relayer submits.
 *
 * Every fee-paying call takes `maxFee`, the most the caller consents to pay per device (for
 * {registerAndActivate}: registration plus activation). A call whose fee is above it reverts with
 * {FeeAboveMax} and charges nobody, so the admin raising a fee cannot take more than a pending call agreed
 * to, whatever allowance stands.
 *
 * Only tokens the payer consented to are ever pulled: every pull is from the caller (`_msgSender()`), except
 * the activation fee of {activateDeviceWithPermit}, which is pulled from `owner` only when the owner is the
 * caller or the owner signed a `PayActivation` consent naming this device and a fee ceiling; an allowance or
 * a permit alone (neither names a device) never pays for someone else's call.
 *
 * {commitWhitelist} also takes `maxActivationFee`: the activation fee it fixes for the root's devices for
 * good is bounded by what the manufacturer agreed to, whatever fee change is mined first.
 */
interface IDeviceRegistry is IThingLedgerErrors {
    enum DeviceStatus {
        Unknown,
        Registered,
        Active,
        Revoked
    }

    /// @notice Everything a peer or a service needs to decide whether to trust a device.
    struct DeviceView {
        DeviceStatus status;
        uint32 manufacturerId;
        address manufacturer;
        address owner;
        address deviceKey;
        uint32 deviceType;
        bytes32 metadataHash;
        /// @notice Reputation 0-1,000: the manufacturer's default until the device's first audit.
        uint16 score;
        /// @notice Direction of the last score change: -1, 0 or +1.
        int8 trend;
    }

    struct ManufacturerView {
        uint32 id;
        address account;
        address payout;
        uint16 defaultScore;
        bool active;
        /// @notice Prepaid registration-fee credit, in token base units.
        uint96 credit;
    }

    /// @notice A committed Merkle whitelist.
    struct WhitelistView {
        uint32 manufacturerId;
        /// @notice Paid capacity: devices that may ever be registered from this root.
        uint32 capacity;
        uint32 used;
        /// @notice The activation fee fixed at commit for every device registered from this root.
        uint256 activationFee;
    }

    // ---------------------------------------------------------------- events

    /// @notice A manufacturer was admitted, or a removed one re-admitted.
    /// @param id The manufacturer's id (kept on re-admission).
    /// @param account The manufacturer's account.
    /// @param payout Where its withdrawn fee credit goes.
    /// @param defaultScore The reputation its devices carry until their first audit.
    event ManufacturerAdded(uint32 indexed id, address indexed account, address payout, uint16 defaultScore);
    /// @notice A manufacturer was removed: it lost every power (see {removeManufacturer}).
    /// @param id The manufacturer's id.
    /// @param account The manufacturer's account.
    event ManufacturerRemoved(uint32 indexed id, address indexed account);
    /// @notice A manufacturer changed its payout address.
    /// @param id The manufacturer's id.
    /// @param payout The new payout address.
    event ManufacturerPayoutChanged(uint32 indexed id, address payout);
    /// @notice The manufacturer's current account proposed `newAccount` as its next account (zero: the
    /// pending proposal was cancelled).
    /// @param id The manufacturer's id.
    /// @param account Its current account.
    /// @param newAccount The proposed account, or zero for a cancellation.
    event ManufacturerAccountProposed(uint32 indexed id, address indexed account, address indexed newAccount);
    /// @notice The manufacturer `id` moved, with its credit, payout, default score, devices and whitelists, from
    /// `oldAccount` to `newAccount`.
    /// @param id The manufacturer's id.
    /// @param oldAccount The account it left, which lost every power.
    /// @param newAccount The account it moved to.
    event ManufacturerAccountChanged(uint32 indexed id, address indexed oldAccount, address indexed newAccount);
    /// @notice The admin set the fees.
    /// @param registrationFee The fee per registered device, in token base units.
    /// @param activationFee The fee per activation, in token base units.
    event FeesChanged(uint256 registrationFee, uint256 activationFee);
    /// @notice Tokens were added to a manufacturer's prepaid fee credit.
    /// @param manufacturerId The manufacturer credited.
    /// @param payer Who paid the tokens.
    /// @param amount The tokens added, in base units.
    event FeeCreditDeposited(uint32 indexed manufacturerId, address indexed payer, uint256 amount);
    /// @notice A manufacturer withdrew its whole fee credit.
    /// @param manufacturerId The manufacturer.
    /// @param payout The address the tokens were sent to.
    /// @param amount The tokens withdrawn, in base units.
    event FeeCreditWithdrawn(uint32 indexed manufacturerId, address indexed payout, uint256 amount);
    /// @notice Fees a manufacturer paid from its credit joined the reward pool (see {collectFeesPaidFromCredit}).
    /// @param manufacturerId The manufacturer whose spent credit was counted.
    /// @param amount The tokens that joined the pool, in base units.
    event PaidFeesCollected(uint32 indexed manufacturerId, uint256 amount);
    /// @notice A device was registered (one by one, or from a whitelist).
    /// @param deviceId The device's id.
    /// @param manufacturerId Its manufacturer (the id's top 32 bits).
    /// @param deviceKey The address of the device's own key.
    /// @param deviceType The manufacturer's type code for the device.
    event DeviceRegistered(
        bytes32 indexed deviceId,
        uint32 indexed manufacturerId,
        address deviceKey,
        uint32 deviceType
    );
    /// @notice A batch registration: one event for all its devices (their keys and types are in storage).
    /// @param manufacturerId The manufacturer that registered them.
    /// @param deviceIds The devices registered, in order.
    event DevicesRegistered(uint32 indexed manufacturerId, bytes32[] deviceIds);
    /// @notice A device's metadata hash was set at registration.
    /// @param deviceId The device.
    /// @param metadataHash The hash of its off-chain metadata.
    event DeviceMetadataSet(bytes32 indexed deviceId, bytes32 metadataHash);
    /// @notice A manufacturer committed a Merkle whitelist of devices, paying for its capacity.
    /// @param root The whitelist's Merkle root.
    /// @param manufacturerId The manufacturer that committed it.
    /// @param capacity How many devices may ever be registered from it.
    event WhitelistCommitted(bytes32 indexed root, uint32 indexed manufacturerId, uint32 capacity);
    /// @notice A whitelist was closed: no more devices can be registered from it.
    /// @param root The whitelist's Merkle root.
    /// @param manufacturerId Its manufacturer.
    /// @param unusedCapacity The capacity that was paid for and never used.
    event WhitelistClosed(bytes32 indexed root, uint32 indexed manufacturerId, uint32 unusedCapacity);
    /// @notice A device was activated for an owner.
    /// @param deviceId The device.
    /// @param owner Its owner.
    event DeviceActivated(bytes32 indexed deviceId, address indexed owner);
    /// @notice An active device changed owner.
    /// @param deviceId The device.
    /// @param from The owner it had.
    /// @param to Its new owner.
    event DeviceTransferred(bytes32 indexed deviceId, address indexed from, address indexed to);
    /// @notice A device was revoked for good.
    /// @param deviceId The device.
    /// @param by Who revoked it: its manufacturer or the admin.
    /// @param reason A reason code (3: squatted; the others are the caller's own).
    event DeviceRevoked(bytes32 indexed deviceId, address indexed by, uint8 reason);
    /// @notice An active device's key was replaced.
    /// @param deviceId The device.
    /// @param oldKey The key it had.
    /// @param newKey The key it has now.
    event DeviceKeyRotated(bytes32 indexed deviceId, address oldKey, address newKey);

    // ---------------------------------------------------------------- errors

    /// @notice `account` is not an active manufacturer.
    /// @param account The caller or the account named.
    error NotActiveManufacturer(address account);
    /// @notice `account` is already an active manufacturer.
    /// @param account The account named.
    error ManufacturerAlreadyActive(address account);
    /// @notice `account` has no manufacturer record (it was never admitted, or it moved away).
    /// @param account The account named.
    error UnknownManufacturer(address account);
    /// @notice A score is above the maximum (`MAX_SCORE`, 1,000).
    /// @param score The score given.
    error ScoreOutOfRange(uint16 score);
    /// @notice A fee or a reward is above its hard cap.
    /// @param fee The amount given.
    /// @param cap The cap.
    error FeeAboveCap(uint256 fee, uint256 cap);
    /// @notice `deviceId`'s top 32 bits are not `manufacturerId`, the manufacturer registering it.
    /// @param deviceId The device id given.
    /// @param manufacturerId The registering manufacturer.
    error DeviceIdOutsideNamespace(bytes32 deviceId, uint32 manufacturerId);
    /// @notice The fee a call would charge (per device) is above the `maxFee` its caller consented to.
    /// @param fee The fee per device.
    /// @param maxFee The ceiling the caller gave.
    error FeeAboveMax(uint256 fee, uint256 maxFee);
    /// @notice The device is already registered.
    /// @param deviceId The device.
    error DeviceAlreadyRegistered(bytes32 deviceId);
    /// @notice The device is not registered.
    /// @param deviceId The device.
    error DeviceNotRegistered(bytes32 deviceId);
    /// @notice The device's status does not allow the call (e.g. activating an active device).
    /// @param deviceId The device.
    /// @param status Its status.
    error UnexpectedDeviceStatus(bytes32 deviceId, DeviceStatus status);
    /// @notice A batch is empty.
    error EmptyBatch();
    /// @notice The device cannot be activated: another device of its manufacturer, sharing its reference
    /// (`manufacturerId << 64 | low 64 bits of the id`), was activated first. Only the manufacturer can
    /// register two such ids.
    /// @param deviceId The device.
    /// @param ref Its reference.
    error DeviceRefTaken(bytes32 deviceId, uint96 ref);
    /// @notice A signature is not the device key's (another key, malformed, or a high s).
    /// @param deviceId The device.
    /// @param recovered The signer recovered, zero for a malformed signature.
    error InvalidDeviceSignature(bytes32 deviceId, address recovered);
    /// @notice The caller does not own the device.
    /// @param deviceId The device.
    /// @param caller The caller.
    error NotDeviceOwner(bytes32 deviceId, address caller);
    /// @notice Only the device's manufacturer or the admin may do this.
    /// @param deviceId The device.
    /// @param caller The caller.
    error NotDeviceManufacturerOrAdmin(bytes32 deviceId, address caller);
    /// @notice The manufacturer already committed this root.
    /// @param root The root.
    error WhitelistAlreadyCommitted(bytes32 root);
    /// @notice The manufacturer never committed this root.
    /// @param manufacturerId The manufacturer looked under.
    /// @param root The root.
    error UnknownWhitelist(uint32 manufacturerId, bytes32 root);
    /// @notice Every device the whitelist paid for is registered (or it was closed).
    /// @param root The root.
    /// @param capacity Its capacity.
    error WhitelistCapacityExhausted(bytes32 root, uint32 capacity);
    /// @notice A device key is zero.
    /// @param deviceKey The key given.
    error InvalidDeviceKey(address deviceKey);
    /// @notice A whitelist's capacity is zero.
    error ZeroCapacity();
    /// @notice Only the whitelist's manufacturer or the admin may close it.
    /// @param root The root.
    /// @param caller The caller.
    error NotWhitelistManufacturerOrAdmin(bytes32 root, address caller);
    /// @notice The proof does not place the device (id, key, type, manufacturer) under the root.
    /// @param root The root.
    /// @param deviceId The device.
    error NotInWhitelist(bytes32 root, bytes32 deviceId);
    /// @notice The caller has nothing to withdraw.
    /// @param account The caller.
    error NothingToWithdraw(address account);
    /// @notice A key rotation names the key the device already has.
    /// @param deviceId The device.
    error SameKey(bytes32 deviceId);
    /// @notice A deposit would take the credit total beyond 96 bits.
    error CreditOverflow();
    /// @notice Too little gas is left to give a contract owner's hook its whole budget.
    /// @param available The gas left.
    /// @param needed The gas the hook call needs.
    error OwnerHookGasTooLow(uint256 available, uint256 needed);
    /// @notice The reputation epoch length is zero.
    error ZeroEpochLength();
    /// @notice A caller other than `owner` activated `deviceId` for `owner` without `owner`'s valid
    /// `PayActivation` consent for this device and this `maxFee` (wrong signer, other device, other fee ceiling,
    /// or malformed); the fee is never taken from `owner` on someone else's call without it.
    /// @param deviceId The device.
    /// @param owner The owner named.
    error InvalidOwnerConsent(bytes32 deviceId, address owner);
    /// @notice The activation fee in force (`fee`) is above the `maxActivationFee` a whitelist commit agreed to fix.
    /// @param fee The activation fee in force.
    /// @param maxActivationFee The ceiling the manufacturer gave.
    error ActivationFeeAboveMax(uint256 fee, uint256 maxActivationFee);
    /// @notice `account` already has a manufacturer record (id `id`, active or removed), so it cannot take
    /// over another manufacturer's id.
    /// @param account The account named.
    /// @param id Its own manufacturer id.
    error AccountIsManufacturer(address account, uint32 id);
    /// @notice `caller` is not the pending next account of manufacturer `id` (or there is no proposal).
    /// @param id The manufacturer's id.
    /// @param caller The caller.
    error NotPendingManufacturerAccount(uint32 id, address caller);

    // ---------------------------------------------------------------- network roles

    /**
     * @notice Admits `account` as a manufacturer (or re-admits a removed one, keeping its id, credit and
     * payout). Only the admin.
     * @param payout Receives the manufacturer's withdrawn fee credit; for a new manufacturer only (a
     * re-admitted one keeps the payout it set, and changes it itself with `setPayout`).
     * @param defaultScore Reputation (0-1,000) its devices carry until their first audit.
     * @return id The manufacturer's id.
     */
    function addManufacturer(address account, address payout, uint16 defaultScore) external returns (uint32 id);

    /**
     * @notice Ends every power of the manufacturer `account`: it can no longer register devices, commit or
     * close whitelists, revoke its devices, change its payout or move its account, and its pending account
     * proposal is cancelled. Its devices stay readable and valid (only the admin can revoke them now); roots
     * it committed stay claimable until the admin closes them; its unused fee credit stays withdrawable, to
     * the payout address set before removal. Re-admission restores the powers. Only the admin.
     */
    function removeManufacturer(address account) external;

    /// @notice Changes the caller's payout address. Active manufacturers only: a removed one (perhaps with a
    /// leaked key) cannot redirect its remaining credit.
    function setPayout(address payout) external;

    /**
     * @notice Step one of moving the calling manufacturer to a new account (a key rotation): proposes
     * `newAccount`, which must then call {acceptManufacturerAccount}. A new proposal replaces the pending
     * one; `newAccount` zero cancels it. Only an active manufacturer; `newAccount` must have no manufacturer
     * record of its own (active or removed). The admin can neither force nor cancel a move, except that
     * removal cancels it.
     */
    function proposeManufacturerAccount(address newAccount) external;

    /**
     * @notice Step two: the proposed account takes over manufacturer `id`. The id, credit, payout, default
     * score, devices and whitelists follow it; the old account loses every power and its record, so the
     * admin can later admit the old account only as a new manufacturer with a new id.
     */
    function acceptManufacturerAccount(uint32 id) external;

    /// @notice Sets the fees, each within its hard cap. Only the admin.
    function setFees(uint256 registrationFee, uint256 activationFee) external;

    // ---------------------------------------------------------------- fee credit

    /**
     * @notice Pulls `amount` tokens from the payer into the fee credit of the manufacturer `account`.
     * Called directly (after `approve`) or through the token's `approveAndCall`, which names the payer.
     */
    function depositFeeCredit(address account, uint256 amount) external;

    /// @notice Same as {depositFeeCredit}, authorising the pull with an EIP-2612 permit by the payer.
    function depositFeeCreditWithPermit(
        address account,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Sends the caller's whole unused fee credit to its payout address (pull payment). Works after
    /// removal too, so a removed manufacturer's funds are never stuck.
    function withdrawFeeCredit() external returns (uint256 amount);

    /**
     * @notice Moves the fees that the manufacturers `accounts` paid from their credit into the reward pool.
     * Anyone may call it: it changes no one's credit, only when spent credit is counted. Paying a fee from
     * credit lowers only the manufacturer's own record, so the pool omits (never over-counts) such fees
     * until this call, or the manufacturer's next deposit or withdrawal, counts them. Unknown accounts and
     * accounts with nothing spent are skipped.
     * @param accounts Manufacturer accounts (current ones; a rotated-away account has no record).
     * @return collected The tokens that joined the pool.
     */
    function collectFeesPaidFromCredit(address[] calldata accounts) external returns (uint256 collected);

    // ---------------------------------------------------------------- registration

    /// @notice Registers one device for the calling manufacturer, charging the registration fee. The id
    /// must be in the caller's namespace ({DeviceIdOutsideNamespace}).
    /// @param maxFee The most the caller pays: reverts with {FeeAboveMax} if the registration fee is above.
    function registerDevice(
        uint256 maxFee,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32 metadataHash
    ) external;

    /// @notice Registers many devices in one transaction, charging the fee once for all of them. Emits one
    /// {DevicesRegistered} for the batch instead of a {DeviceRegistered} per device. Every id must be in the
    /// caller's namespace.
    /// @param maxFee The most the caller pays per device ({FeeAboveMax}).
    function registerDevices(
        uint256 maxFee,
        bytes32[] calldata deviceIds,
        address[] calldata deviceKeys,
        uint32[] calldata deviceTypes
    ) external;

    /**
     * @notice Commits a Merkle whitelist of up to `capacity` devices, paying `capacity` registration fees
     * now. Each device is registered when it first presents its proof.
     * Leaf = keccak256(keccak256(abi.encode(deviceId, deviceKey, deviceType, manufacturerId))); pairs are
     * sorted. The double hash makes a 64-byte internal node impossible to pass as a leaf. The activation
     * fee in force now is fixed for this root's devices, whichever way they are later registered and
     * activated. Roots are keyed by (manufacturer, root): another manufacturer committing the same root
     * first blocks nothing, and only ids in the caller's namespace can ever be registered from it.
     * @param maxFee The most the caller pays per device of capacity ({FeeAboveMax}).
     * @param maxActivationFee The highest activation fee the caller agrees to fix for the root's devices
     * ({ActivationFeeAboveMax}): a fee raise mined first cannot lock a higher price onto the whole root.
     */
    function commitWhitelist(uint256 maxFee, uint256 maxActivationFee, bytes32 root, uint32 capacity) external;

    /**
     * @notice Stops further registrations from `root` (capacity becomes what was used; the fees paid for the
     * rest stay in the pool). Only the root's manufacturer while active, or the admin. Roots committed before
     * a manufacturer's removal stay claimable, since their devices were paid for and may already be sold,
     * until the admin closes them here.
     */
    function closeWhitelist(uint32 manufacturerId, bytes32 root) external;

    /// @notice Registers a whitelisted device from its Merkle proof. Anyone may submit it. The root is the
    /// one committed by the manufacturer the id names. The device keeps the root's activation fee.
    function registerFromWhitelist(
        bytes32 root,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32[] calldata proof
    ) external;

    // ---------------------------------------------------------------- activation
    //
    // Device signatures on state-changing calls are EIP-2098 compact signatures (r, vs): 64 bytes of
    // calldata instead of a 65-byte `bytes` with its offset and length words. High-s values are rejected.

    /**
     * @notice Activates a registered device for `owner`. The device signs the EIP-712 message
     * `Activate(bytes32 deviceId,address owner,uint256 deadline)` with its key; anyone may submit it, and
     * the submitter pays the activation fee. The owner is bound in the signature, so a front-runner
     * cannot change it. The fee is the current one, or, for a device registered from a whitelist, the one
     * fixed when its root was committed ({activationFeeOf}).
     * @param maxFee The most the caller pays ({FeeAboveMax}); not part of the device's signature.
     */
    function activateDevice(
        uint256 maxFee,
        bytes32 deviceId,
        address owner,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external;

    /**
     * @notice {activateDevice} with the activation fee pulled from `owner` rather than the caller, so that a
     * relayer can submit everything and the owner needs no ETH.
     *
     * When the caller is not `owner`, `owner` must have signed the registry's EIP-712 message
     * `PayActivation(bytes32 deviceId,address owner,uint256 maxFee,uint256 deadline)` for this very device,
     * this payer and this `maxFee`
     * (an EOA's 65-byte signature, or a contract owner's ERC-1271 answer); otherwise {InvalidOwnerConsent}. An
     * ERC-2612 permit names no device, so a permit alone proves nothing: a holder of another device's key could
     * spend it on that device. The consent is single-use by construction, as a device activates once.
     * When the caller is `owner`, no consent is needed.
     *
     * The permit, when given (`permitV` != 0), is for `maxFee` (so a fee lowered before inclusion does not
     * void it) and is tried first; a failure is ignored (it may have been submitted already by someone else,
     * in which case the allowance is there). The fee is then pulled under `owner`'s allowance. No fee, no
     * consent needed.
     * @param maxFee The most `owner` pays; part of the consent, so a relayer cannot raise it.
     * @param ownerDeadline Deadline of the owner's consent and of the permit (both sign the same one).
     * @param ownerConsent The owner's `PayActivation` signature; empty when the caller is `owner`.
     */
    function activateDeviceWithPermit(
        uint256 maxFee,
        bytes32 deviceId,
        address owner,
        uint256 deadline,
        bytes32 r,
        bytes32 vs,
        uint256 ownerDeadline,
        uint8 permitV,
        bytes32 permitR,
        bytes32 permitS,
        bytes calldata ownerConsent
    ) external;

    /**
     * @notice Registers a whitelisted device from its proof and activates it, in one transaction. The
     * device key is not passed: it is recovered from the activation signature and must be the key the
     * leaf binds, so a signature by any other key fails the proof ({NotInWhitelist}). Emits
     * {DeviceActivated} only (the registration is implied). The activation fee is the one in force when
     * the root was committed.
     * @param maxFee The most the caller pays ({FeeAboveMax}), taken here too so that the rule is uniform.
     */
    function activateFromWhitelist(
        uint256 maxFee,
        bytes32 root,
        bytes32 deviceId,
        uint32 deviceType,
        bytes32[] calldata proof,
        address owner,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external;

    /// @notice Registers and activates a device for `owner` in one call: the manufacturer ships it already
    /// activated and pays both fees.
    /// @param maxFee The most the caller pays for the device, registration and activation together.
    function registerAndActivate(
        uint256 maxFee,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32 metadataHash,
        address owner
    ) external;

    // ---------------------------------------------------------------- lifecycle

    /// @notice Transfers an active device to `newOwner`. Only its owner. A contract that was the owner
    /// hears of it through {IDeviceOwnerHook}.
    function transferDevice(bytes32 deviceId, address newOwner) external;

    /// @notice Revokes a device (compromised, recalled) for good. Only its manufacturer (while active, from
    /// its current account) or the admin. A contract owner (a device wallet) hears of it through
    /// {IDeviceOwnerHook} in the same transaction.
    function revokeDevice(bytes32 deviceId, uint8 reason) external;

    /**
     * @notice Replaces the device key. Only the owner, with the new key's EIP-712 signature of
     * `RotateKey(bytes32 deviceId,address newKey,uint256 nonce,uint256 deadline)`, whose per-device nonce
     * makes every rotation signature single-use.
     *
     * Who may rotate, and why: the owner, because the owner is who consents to what the device is (it
     * activated or received the device, and rotation is how it recovers one); the new key, to prove that
     * someone holds it (no rotation to a key nobody controls, or to someone else's key). The old key is not
     * asked: rotation exists for when it is lost or stolen, and a thief holding it must not be able to
     * block the rotation. The manufacturer and the admin cannot rotate (they revoke instead).
     *
     * A contract owner hears of the rotation through {IDeviceOwnerHook} in the same transaction. A device
     * wallet then unlinks, and its device may spend again only once the wallet's device key equals the
     * registry's key: so a stolen old key stops spending from the wallet at once.
     */
    function rotateDeviceKey(bytes32 deviceId, address newKey, uint256 deadline, bytes32 r, bytes32 vs) external;

    // ---------------------------------------------------------------- views

    /// @notice Status, manufacturer, owner, key, type, metadata and reputation of a device.
    function getDevice(bytes32 deviceId) external view returns (DeviceView memory);

    /// @notice The status of many devices at once (for resumable batch registration).
    function getStatuses(bytes32[] calldata deviceIds) external view returns (DeviceStatus[] memory);

    /// @notice One device's owner and status, the two facts a device wallet needs to link itself to its
    /// device (see {IDeviceOwnerHook}).
    function ownerAndStatus(bytes32 deviceId) external view returns (address owner, DeviceStatus status);

    /// @notice One device's owner, status and current key: what a device wallet checks when it links itself
    /// to its device (its own device key must be the registry's).
    function ownerStatusAndKey(
        bytes32 deviceId
    ) external view returns (address owner, DeviceStatus status, address deviceKey);

    /// @notice True when `signature` over `digest` is by the key of `deviceId` and the device is active.
    /// `signature` is 65 bytes (r, s, v) or 64 bytes (EIP-2098 r, vs); high-s and any other length are false.
    function isValidDeviceSignature(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature
    ) external view returns (bool);

    /// @notice The EIP-712 digest of `IdentityClaim(bytes32 deviceId,bytes32 challenge)` in this registry's
    /// domain: what a device signs to prove "I am device X" to a peer's fresh challenge.
    function identityClaimDigest(bytes32 deviceId, bytes32 challenge) external view returns (bytes32);

    /// @notice The per-device nonce that the next key-rotation signature must carry.
    function keyNonce(bytes32 deviceId) external view returns (uint256);

    function getManufacturer(address account) external view returns (ManufacturerView memory);

    function manufacturerAccount(uint32 id) external view returns (address);

    function manufacturerCount() external view returns (uint32);

    /// @notice The whitelist `root` committed by manufacturer `manufacturerId` (all zero if none).
    function getWhitelist(uint32 manufacturerId, bytes32 root) external view returns (WhitelistView memory);

    /// @notice The fee {activateDevice} would charge for `deviceId` now: the fee fixed by its whitelist root
    /// if it was registered from one, else the current activation fee.
    function activationFeeOf(bytes32 deviceId) external view returns (uint256);

    /// @notice The account proposed to take over manufacturer `id`, or zero.
    function pendingManufacturerAccount(uint32 id) external view returns (address);

    function registrationFee() external view returns (uint256);

    function activationFee() external view returns (uint256);

    /// @notice Tokens collected from fees and not yet paid out as rewards.
    function rewardPool() external view returns (uint256);

    /// @notice Fees `account` paid from its credit that are not yet in the reward pool
    /// (see {collectFeesPaidFromCredit}).
    function uncollectedPaidFees(address account) external view returns (uint256);

    /// @notice The ThingToken this registry charges in.
    function token() external view returns (address);
}
