import { index, onchainEnum, onchainTable, primaryKey } from "ponder";

/** A device's status, as the registry's `DeviceStatus` names it (Unknown is never stored). */
export const deviceStatus = onchainEnum("device_status", ["Registered", "Active", "Revoked"]);

/** A manufacturer the admin admitted, with its current account and payout. */
export const manufacturer = onchainTable("manufacturer", (t) => ({
  id: t.integer().primaryKey(),
  account: t.hex().notNull(),
  payout: t.hex().notNull(),
  defaultScore: t.integer().notNull(),
  active: t.boolean().notNull(),
  addedBlock: t.bigint().notNull(),
}));

/** A device: its identity (id, manufacturer, key, type, whitelist), status, owner and latest score. */
export const device = onchainTable(
  "device",
  (t) => ({
    id: t.hex().primaryKey(),
    manufacturerId: t.integer().notNull(),
    deviceKey: t.hex().notNull(),
    deviceType: t.bigint().notNull(),
    /** The whitelist root it was claimed from; null for a device registered directly. */
    whitelistRoot: t.hex(),
    metadataHash: t.hex(),
    status: deviceStatus("status").notNull(),
    owner: t.hex(),
    /** The 96-bit reference `updateScoresPacked` names it by (manufacturer id, then the id's low 64 bits). */
    ref: t.bigint().notNull(),
    score: t.integer(),
    trend: t.integer(),
    registeredBlock: t.bigint().notNull(),
    registeredAt: t.bigint().notNull(),
    activatedAt: t.bigint(),
  }),
  (table) => ({
    manufacturerIdx: index().on(table.manufacturerId, table.id),
    ownerIdx: index().on(table.owner, table.id),
    statusIdx: index().on(table.status, table.id),
    typeIdx: index().on(table.deviceType, table.id),
    whitelistIdx: index().on(table.whitelistRoot, table.id),
    refIdx: index().on(table.ref),
  }),
);

/** Every status change of a device: registration, activation, revocation (with who and why). */
export const deviceStatusChange = onchainTable(
  "device_status_change",
  (t) => ({
    id: t.text().primaryKey(),
    deviceId: t.hex().notNull(),
    status: deviceStatus("status").notNull(),
    by: t.hex(),
    reason: t.integer(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ deviceIdx: index().on(table.deviceId, table.block) }),
);

/** Every change of a device's owner: its activation (from null) and each transfer. */
export const deviceOwnerChange = onchainTable(
  "device_owner_change",
  (t) => ({
    id: t.text().primaryKey(),
    deviceId: t.hex().notNull(),
    from: t.hex(),
    to: t.hex().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ deviceIdx: index().on(table.deviceId, table.block) }),
);

/** Fleet activations per UTC day (of the activating block's timestamp), counted as they are indexed. */
export const activationDay = onchainTable("activation_day", (t) => ({
  /** YYYY-MM-DD. */
  day: t.text().primaryKey(),
  activations: t.integer().notNull(),
}));

/** A device's score as an auditor's submission set it, one row per change. */
export const reputationScore = onchainTable(
  "reputation_score",
  (t) => ({
    id: t.text().primaryKey(),
    deviceId: t.hex().notNull(),
    epoch: t.integer().notNull(),
    score: t.integer().notNull(),
    trend: t.integer().notNull(),
    auditor: t.hex().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (table) => ({ deviceIdx: index().on(table.deviceId, table.block) }),
);

/** One auditor submission (`ScoresUpdated`): the epoch, its reports' commitment, what changed and was rewarded. */
export const scoreSubmission = onchainTable("score_submission", (t) => ({
  id: t.text().primaryKey(),
  auditor: t.hex().notNull(),
  epoch: t.integer().notNull(),
  reportsRoot: t.hex().notNull(),
  reportCount: t.bigint().notNull(),
  changed: t.bigint().notNull(),
  rewarded: t.bigint().notNull(),
  block: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
}));

/** An auditor: whether it is active, its reward cap and what it has withdrawn. */
export const auditor = onchainTable("auditor", (t) => ({
  address: t.hex().primaryKey(),
  active: t.boolean().notNull(),
  maxRewardsPerEpoch: t.bigint().notNull(),
  withdrawn: t.bigint().notNull(),
}));

/** A committed Merkle whitelist and how much of its capacity is used. */
export const whitelist = onchainTable(
  "whitelist",
  (t) => ({
    manufacturerId: t.integer().notNull(),
    root: t.hex().notNull(),
    capacity: t.integer().notNull(),
    used: t.integer().notNull(),
    closed: t.boolean().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.manufacturerId, table.root] }) }),
);

/** A ThingToken transfer from or to a contract of the system (registry, channels, wallet factory, device wallets). */
export const tokenTransfer = onchainTable(
  "token_transfer",
  (t) => ({
    id: t.text().primaryKey(),
    from: t.hex().notNull(),
    to: t.hex().notNull(),
    value: t.bigint().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ fromIdx: index().on(table.from), toIdx: index().on(table.to) }),
);

// ---------------------------------------------------------------- money: device wallets, channels, auditor rewards

/** A device wallet (a clone the factory created): its device, owners, threshold, period and device-key state. */
export const deviceWallet = onchainTable(
  "device_wallet",
  (t) => ({
    address: t.hex().primaryKey(),
    deviceId: t.hex().notNull(),
    deviceKey: t.hex().notNull(),
    /** The owners, increasing, as the last `OwnersChanged` (or the creation) set them. */
    owners: t.hex().array().notNull(),
    threshold: t.integer().notNull(),
    /** The spending period, in seconds (periods are aligned: index = timestamp / period). */
    period: t.integer().notNull(),
    frozen: t.boolean().notNull(),
    linked: t.boolean().notNull(),
    allowlistEnabled: t.boolean().notNull(),
    /** Owner executions so far (the wallet's next nonce). */
    executions: t.integer().notNull(),
    createdBlock: t.bigint().notNull(),
    createdAt: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ deviceIdx: index().on(table.deviceId) }),
);

/**
 * A wallet's allowance of one asset (zero address: ETH), mirroring the contract's spend window: the limit,
 * what was spent in the window's period and the one before it, and that period's index.
 */
export const walletAllowance = onchainTable(
  "wallet_allowance",
  (t) => ({
    wallet: t.hex().notNull(),
    asset: t.hex().notNull(),
    limit: t.bigint().notNull(),
    transferCap: t.bigint().notNull(),
    windowIndex: t.bigint().notNull(),
    windowCurrent: t.bigint().notNull(),
    windowPrevious: t.bigint().notNull(),
    totalSpent: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.wallet, table.asset] }) }),
);

/**
 * What a wallet's device spent of one asset in one aligned period (`periodIndex` = timestamp / period);
 * `lastSpend` is the event id of its latest spend, which orders periods across a change of period (an hour's
 * index and a day's are not comparable).
 */
export const walletPeriodUse = onchainTable(
  "wallet_period_use",
  (t) => ({
    wallet: t.hex().notNull(),
    asset: t.hex().notNull(),
    period: t.integer().notNull(),
    periodIndex: t.bigint().notNull(),
    periodStart: t.bigint().notNull(),
    spent: t.bigint().notNull(),
    spends: t.integer().notNull(),
    /** The limit at the period's last spend. */
    limit: t.bigint().notNull(),
    lastSpend: t.text().notNull(),
  }),
  (table) => ({
    pk: primaryKey({ columns: [table.wallet, table.asset, table.period, table.periodIndex] }),
    lastSpendIdx: index().on(table.wallet, table.lastSpend),
  }),
);

/** An owners' execution (`Executed`): the nonce spent, the call's target and value, and whether it succeeded. */
export const walletExecution = onchainTable(
  "wallet_execution",
  (t) => ({
    id: t.text().primaryKey(),
    wallet: t.hex().notNull(),
    nonce: t.bigint().notNull(),
    to: t.hex().notNull(),
    value: t.bigint().notNull(),
    success: t.boolean().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ walletIdx: index().on(table.wallet, table.id) }),
);

/**
 * A device spend (`DeviceSpent`), sent by the device key itself or relayed (`relayed`: another account sent it),
 * with the asset's spend window after it (`window*`), so that a wallet can be read as it was at a past time.
 */
export const walletSpend = onchainTable(
  "wallet_spend",
  (t) => ({
    id: t.text().primaryKey(),
    wallet: t.hex().notNull(),
    asset: t.hex().notNull(),
    to: t.hex().notNull(),
    amount: t.bigint().notNull(),
    periodIndex: t.bigint().notNull(),
    relayed: t.boolean().notNull(),
    windowIndex: t.bigint().notNull(),
    windowCurrent: t.bigint().notNull(),
    windowPrevious: t.bigint().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({
    walletIdx: index().on(table.wallet, table.id),
    assetIdx: index().on(table.wallet, table.asset, table.timestamp),
  }),
);

/**
 * Every other change of a wallet, oldest first: its creation, owners and threshold, device key, freezes,
 * period, limits, transfer caps, the recipient allow-list, and registry (un)links; `detail` holds the event's
 * arguments (amounts as decimal strings).
 */
export const walletChange = onchainTable(
  "wallet_change",
  (t) => ({
    id: t.text().primaryKey(),
    wallet: t.hex().notNull(),
    kind: t.text().notNull(),
    detail: t.json().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ walletIdx: index().on(table.wallet, table.id) }),
);

/** How a channel's life ended: open still, closed by its payee (alone or in a batch), or reclaimed. */
export const channelStatus = onchainEnum("channel_status", ["Open", "Closed", "Reclaimed"]);

/** A payment channel, one row for its whole life: its key, deposit and expiry now, and how it ended. */
export const channel = onchainTable(
  "channel",
  (t) => ({
    id: t.hex().primaryKey(),
    owner: t.hex().notNull(),
    payee: t.hex().notNull(),
    /** ThingToken (true) or ETH (false). */
    token: t.boolean().notNull(),
    clientRoot: t.hex().notNull(),
    salt: t.bigint().notNull(),
    openBlock: t.bigint().notNull(),
    openedAt: t.bigint().notNull(),
    initialDeposit: t.bigint().notNull(),
    deposit: t.bigint().notNull(),
    expiry: t.bigint().notNull(),
    topUps: t.integer().notNull(),
    status: channelStatus("status").notNull(),
    /** What the payee was paid, and the owner got back (null while open). */
    paid: t.bigint(),
    refunded: t.bigint(),
    /** The part of an ETH refund the owner's account refused, left for `withdrawRefund`. */
    refundOwed: t.bigint(),
    /** "close", "closeBatch" or "reclaim"; null while open (or for a close sent through another contract). */
    endedBy: t.text(),
    endedBlock: t.bigint(),
    endedAt: t.bigint(),
    endTxHash: t.hex(),
  }),
  (table) => ({
    payeeIdx: index().on(table.payee, table.id),
    ownerIdx: index().on(table.owner, table.id),
    endTxIdx: index().on(table.endTxHash),
  }),
);

/** Every event of a channel's life: Opened, ToppedUp, Closed, CloseSkipped (with its reason), Reclaimed. */
export const channelEvent = onchainTable(
  "channel_event",
  (t) => ({
    id: t.text().primaryKey(),
    channelId: t.hex().notNull(),
    kind: t.text().notNull(),
    deposit: t.bigint(),
    expiry: t.bigint(),
    paid: t.bigint(),
    refunded: t.bigint(),
    /** A skipped close's `CloseSkipReason`, as the library names it (not-open, expired, ...). */
    reason: t.text(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ channelIdx: index().on(table.channelId, table.id) }),
);

/** An ETH refund the channels contract could not push (`RefundOwed`) or an owner withdrew (`RefundWithdrawn`). */
export const channelRefund = onchainTable(
  "channel_refund",
  (t) => ({
    id: t.text().primaryKey(),
    owner: t.hex().notNull(),
    kind: t.text().notNull(),
    amount: t.bigint().notNull(),
    /** The channel whose end owed it (null for a withdrawal). */
    channelId: t.hex(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ ownerIdx: index().on(table.owner, table.id) }),
);

/** An auditor's submissions for one epoch: reports committed, scores changed, rewarded, and the reward earned. */
export const auditorEpoch = onchainTable(
  "auditor_epoch",
  (t) => ({
    auditor: t.hex().notNull(),
    epoch: t.integer().notNull(),
    submissions: t.integer().notNull(),
    reportCount: t.bigint().notNull(),
    changed: t.bigint().notNull(),
    rewarded: t.bigint().notNull(),
    /** Token base units earned: `rewarded` times the registry's audit reward. */
    reward: t.bigint().notNull(),
    lastBlock: t.bigint().notNull(),
  }),
  (table) => ({ pk: primaryKey({ columns: [table.auditor, table.epoch] }) }),
);

/** An auditor's reward withdrawal (`AuditorRewardWithdrawn`). */
export const auditorWithdrawal = onchainTable(
  "auditor_withdrawal",
  (t) => ({
    id: t.text().primaryKey(),
    auditor: t.hex().notNull(),
    amount: t.bigint().notNull(),
    block: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (table) => ({ auditorIdx: index().on(table.auditor, table.id) }),
);
