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

/** A ThingToken transfer from or to a contract of the system (registry, channels, wallet factory). */
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
