import { useState } from "react";

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
