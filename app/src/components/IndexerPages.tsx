import { Fragment, useState } from "react";
import type { ReactElement } from "react";

import type { Page } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";

/** What {@link QueryState} reads of a query (e.g. {@link useIndexer}'s). */
interface QueryStatus {
  isPending: boolean;
  isError: boolean;
  error: Error | null;
}

/**
 * A query's state before it has data: "Reading the indexer…" while pending, its error as an alert (with
 * `errorTestId`) once failed; nothing once it has data.
 */
export function QueryState({ query, errorTestId }: { query: QueryStatus; errorTestId: string }) {
  if (query.isPending) return <p className="hint">Reading the indexer…</p>;
  if (query.isError)
    return (
      <p role="alert" className="error" data-testid={errorTestId}>
        {query.error?.message}
      </p>
    );
  return null;
}

/** A stack of the cursors that led to the page shown: its top is the page's cursor (null for the first). */
export interface CursorPages {
  cursor: string | null;
  /** The page's number, from 1. */
  number: number;
  previous(): void;
  next(cursor: string): void;
}

/** Cursor pagination: Next pushes the page's `nextCursor`, Previous pops back to the cursor before. */
export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    cursor: cursors[cursors.length - 1]!,
    number: cursors.length,
    previous: () => setCursors(cursors.slice(0, -1)),
    next: (cursor) => setCursors([...cursors, cursor]),
  };
}

/** Previous / "Page n" / Next, for {@link useCursorPages}; Next is disabled on the last page (no `nextCursor`). */
export function Pager({ pages, nextCursor }: { pages: CursorPages; nextCursor: string | null }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={pages.number === 1} onClick={pages.previous}>
        Previous
      </button>
      <span data-testid="page-number">Page {pages.number}</span>
      <button
        type="button"
        disabled={nextCursor === null}
        onClick={() => nextCursor !== null && pages.next(nextCursor)}
      >
        Next
      </button>
    </nav>
  );
}

/** A column of a {@link CursorTable}: its header, and the cell (a `<td>`) it shows for a row. */
export interface Column<T> {
  header: string;
  cell(row: T): ReactElement;
}

/**
 * One page of an indexer list as a table of `columns`, with the {@link Pager} under it: `fetchPage` gets the
 * page at a cursor (`queryKey` names the list and its filters), Next follows its `nextCursor`, Previous pops
 * the cursors that led here. Each row is a `<name>-row` with `data-<name>-id`; an empty page says
 * "No <name> matches." (`no-<name>s`).
 */
export function CursorTable<T extends { id: string }>(props: {
  name: string;
  queryKey: readonly unknown[];
  fetchPage: (indexerUrl: string, cursor: string | null, signal: AbortSignal) => Promise<Page<T>>;
  columns: readonly Column<T>[];
}) {
  const { name, columns } = props;
  const pages = useCursorPages();
  const { cursor } = pages;
  const page = useIndexer([...props.queryKey, cursor], (url, signal) => props.fetchPage(url, cursor, signal));
  if (page.isPending || page.isError) return <QueryState query={page} errorTestId="list-error" />;
  const { items, nextCursor } = page.data;
  return (
    <>
      {items.length === 0 ? (
        <p data-testid={`no-${name}s`}>No {name} matches.</p>
      ) : (
        <div className="table-scroll">
          <table className={`${name}s`}>
            <thead>
              <tr>
                {columns.map((c) => (
                  <th key={c.header}>{c.header}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {items.map((row) => (
                <tr key={row.id} data-testid={`${name}-row`} {...{ [`data-${name}-id`]: row.id }}>
                  {columns.map((c) => (
                    <Fragment key={c.header}>{c.cell(row)}</Fragment>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pages={pages} nextCursor={nextCursor} />
    </>
  );
}
