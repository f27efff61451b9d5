import { getAddress } from "ethers";
import type { Signer } from "ethers";

import { registryAt, tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";
import { UserError } from "../errors";
import type { HttpOptions } from "../http/service";
import type { RelayPolicy } from "./checks";
import { RelayService } from "./service";

export interface RelayerSetup {
  policy: RelayPolicy;
  /** Seconds a request waits for its receipt before a 504 naming the transaction (default 120). */
  receiptTimeoutSeconds?: number;
  http?: HttpOptions;
}

/** The relayer service of `signer` for the context's registry (not yet listening). */
export async function openRelayer(ctx: SystemContext, signer: Signer, setup: RelayerSetup): Promise<RelayService> {
  const registry = registryAt(ctx);
  const token = tokenAt(ctx);
  const [registryDomain, tokenDomain, relayer] = await Promise.all([
    readDomain(registry),
    readDomain(token),
    signer.getAddress(),
  ]);
  return new RelayService({
    ctx,
    target: {
      chainId: ctx.chainId,
      registry,
      registryAddress: getAddress(ctx.addresses.DeviceRegistry),
      token,
      registryDomain,
      tokenDomain,
    },
    signer,
    relayer,
    policy: setup.policy,
    receiptTimeoutMs: (setup.receiptTimeoutSeconds ?? 120) * 1000,
    http: setup.http,
  });
}

export interface RunningRelayer {
  url: string;
  relayer: string;
  /** The relayer's ETH (wei) when it started: what it has for gas. */
  balance: bigint;
  stop: () => Promise<void>;
}

/** Starts the relayer on `host:port` (port 0: any free one). */
export async function serveRelayer(
  ctx: SystemContext,
  signer: Signer,
  o: RelayerSetup & { port: number; host: string },
): Promise<RunningRelayer> {
  const service = await openRelayer(ctx, signer, o);
  const relayer = await signer.getAddress();
  const balance = await ctx.provider.getBalance(relayer);
  let url: string;
  try {
    url = await service.listen(o.port, o.host);
  } catch (error) {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  return { url, relayer, balance, stop: () => service.stop() };
}
