import { useQuery } from "@tanstack/react-query";

import { useAppConfig } from "../chain/context";
import { IndexerError } from "./api";

/** A query to the indexer the app config names: not retried on a refusal (4xx), shown as it failed. */
export function useIndexer<T>(
  key: readonly unknown[],
  fetcher: (indexerUrl: string, signal: AbortSignal) => Promise<T>,
) {
  const { indexerUrl } = useAppConfig();
  return useQuery({
    queryKey: ["indexer", indexerUrl, ...key],
    queryFn: ({ signal }) => fetcher(indexerUrl, signal),
    retry: (count, error) =>
      !(error instanceof IndexerError && error.status !== null && error.status < 500) && count < 1,
  });
}
