import fs from "node:fs";

import type { Signer } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";
import { UserError, ensure } from "../errors";
import { DatabaseLost } from "../db/files";
import { Rejected } from "../http/errors";
import type { HttpOptions } from "../http/service";
import { AuditorService } from "./auditor";
import type { EpochResult } from "./auditor";
import { checkModel, defaultModel } from "./model";
import type { ModelParams } from "./model";
import { ReportStore } from "./store";
import { trackCreation } from "../cli/created";

/** The model for this registry's epoch length, with overrides (seconds). */
export function modelFor(epochLength: number, overrides: Partial<ModelParams> = {}): ModelParams {
  const model = { ...defaultModel(epochLength), ...overrides };
  try {
    checkModel(model);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  return model;
}

/** How an auditor is set up beyond its signer and database: model overrides and HTTP options. */
export interface AuditorSetup {
  /** Overrides of the default model for the registry's epoch length. */
  model?: Partial<ModelParams>;
  /** HTTP limits, logger and health thresholds. */
  http?: HttpOptions;
  /** Seconds a registered device's status and key are reused (`AuditorOptions.knownDeviceTtl`, default 5). */
  knownDeviceTtl?: number;
  /** Seconds a device found unregistered is refused without a read (`AuditorOptions.unknownDeviceTtl`, default 15). */
  unknownDeviceTtl?: number;
}

export interface OpenedAuditor {
  service: AuditorService;
  store: ReportStore;
  auditor: string;
  registry: DeviceRegistry;
  model: ModelParams;
}

/** The auditor service of `signer` for the context's system, on the SQLite database `db` (not yet listening). */
export async function openAuditor(
  ctx: SystemContext,
  signer: Signer,
  db: string,
  setup: AuditorSetup = {},
): Promise<OpenedAuditor> {
  const registry = registryAt(ctx, signer);
  const [domain, epochLength, auditor] = await Promise.all([
    readDomain(registry),
    registry.epochLength().then(Number),
    signer.getAddress(),
  ]);
  const model = modelFor(epochLength, setup.model);
  let store: ReportStore;
  try {
    store = new ReportStore(db);
  } catch (error) {
    throw new UserError(`cannot open the auditor database ${db}: ${(error as Error).message}`);
  }
  const service = new AuditorService({
    registry,
    domain,
    store,
    model,
    epochLength,
    http: setup.http,
    knownDeviceTtl: setup.knownDeviceTtl,
    unknownDeviceTtl: setup.unknownDeviceTtl,
  });
  return { service, store, auditor, registry, model };
}

/** Scores the current epoch once from the auditor database `db` and submits the changed scores. */
export async function runEpoch(
  ctx: SystemContext,
  signer: Signer,
  db: string,
  setup: AuditorSetup = {},
): Promise<EpochResult & { auditor: string }> {
  ensure(fs.existsSync(db), `auditor database ${db} does not exist (an auditor creates it when it first serves)`);
  const { service, store, auditor } = await openAuditor(ctx, signer, db, setup);
  try {
    return { ...(await service.runEpoch()), auditor };
  } catch (error) {
    // A refusal of the service (e.g. 503 chain unavailable) is a user's error here: one line, no stack.
    if (error instanceof Rejected || error instanceof DatabaseLost) throw new UserError(error.message);
    throw error;
  } finally {
    store.close();
  }
}

export interface ServeAuditorOptions extends AuditorSetup {
  signer: Signer;
  port: number;
  host: string;
  db: string;
  /** Score each epoch automatically, looking at the chain's epoch this often (seconds). */
  autoPollSeconds?: number;
  log: (line: string) => void;
}

export interface RunningAuditor {
  url: string;
  auditor: string;
  db: string;
  reports: number;
  model: ModelParams;
  auto: boolean;
  stop: () => Promise<void>;
}

/**
 * Scores an epoch each time the chain enters a new one (the reports of the epoch before are all in by
 * then), looking every `seconds`. Each pass is tracked: /health reports its last run and error, the
 * metrics count its results. Returns the timer, for `clearInterval`.
 */
async function startEpochLoop(
  opened: OpenedAuditor,
  seconds: number,
  log: (line: string) => void,
): Promise<NodeJS.Timeout> {
  const { service, store, registry } = opened;
  let busy = false;
  let seen = Number(await registry.currentEpoch());
  service.watchLoop("epoch", seconds);
  return setInterval(() => {
    if (busy) return;
    busy = true;
    service
      .track("epoch", async () => {
        const epoch = Number(await registry.currentEpoch());
        if (epoch <= seen) return;
        seen = epoch;
        if (store.epoch(epoch) !== undefined || store.count() === 0) return;
        const r = await service.runEpoch();
        log(`epoch ${r.epoch}: ${r.submitted} score(s) from ${r.reports} report(s), root ${r.root}, gas ${r.gasUsed}`);
      })
      .catch((error: Error) => log(`epoch run failed: ${error.message}`))
      .finally(() => (busy = false));
  }, seconds * 1000);
}

/**
 * Starts the auditor for the context's system. With `autoPollSeconds`, it scores and submits each epoch
 * once the chain enters it (the reports of the epoch before are all in by then).
 */
export async function serveAuditor(ctx: SystemContext, o: ServeAuditorOptions): Promise<RunningAuditor> {
  const created = trackCreation(o.db);
  const opened = await openAuditor(ctx, o.signer, o.db, o);
  const { service, store, auditor } = opened;
  if (!(await opened.registry.auditorInfo(auditor)).active)
    o.log(`${auditor} is not an admitted auditor yet: reports are taken, but epochs cannot be submitted`);
  let url: string;
  try {
    url = await service.listen(o.port, o.host);
  } catch (error) {
    store.close();
    created.undo();
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  const timer = o.autoPollSeconds === undefined ? undefined : await startEpochLoop(opened, o.autoPollSeconds, o.log);
  return {
    url,
    auditor,
    db: o.db,
    reports: store.count(),
    model: opened.model,
    auto: timer !== undefined,
    stop: async () => {
      if (timer !== undefined) clearInterval(timer);
      await service.stop();
      store.close();
    },
  };
}
