import type { ReactNode } from "react";

/**
 * A history table under the pages' one style: its header cells, one row a record (`row` returns the
 * `<tr>`), scrolling inside its box on a phone. With `empty`, no record shows that instead of a bare header.
 */
export function HistoryTable<T>(props: {
  testId: string;
  headers: readonly string[];
  items: readonly T[];
  row: (item: T) => ReactNode;
  empty?: ReactNode;
}) {
  if (props.items.length === 0 && props.empty !== undefined) return <>{props.empty}</>;
  return (
    <div className="table-scroll">
      <table className="history" data-testid={props.testId}>
        <thead>
          <tr>
            {props.headers.map((h) => (
              <th key={h}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>{props.items.map(props.row)}</tbody>
      </table>
    </div>
  );
}
