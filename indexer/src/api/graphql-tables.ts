import type { CursorTable, CursorTables, CursorValueType } from "./graphql-guard";

/**
 * Drizzle's registered symbols (`drizzle-orm/table.js`), read here because Ponder does not re-export
 * `getTableColumns`/`getTableConfig` and this project does not depend on drizzle directly.
 */
const COLUMNS = Symbol.for("drizzle:Columns");
const EXTRA_CONFIG_BUILDER = Symbol.for("drizzle:ExtraConfigBuilder");
const EXTRA_CONFIG_COLUMNS = Symbol.for("drizzle:ExtraConfigColumns");
const ENTITY_KIND = Symbol.for("drizzle:entityKind");

interface Column {
  name: string;
  dataType: string;
  /** `PgHex` for Ponder's `t.hex()`. */
  columnType: string;
  primary: boolean;
}
type Table = Record<symbol, unknown>;

/** A table's columns by their JS name, or undefined for anything in the schema that is not a table (enums). */
function columnsOf(value: unknown): Record<string, Column> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const columns = (value as Table)[COLUMNS];
  return typeof columns === "object" && columns !== null ? (columns as Record<string, Column>) : undefined;
}

/** The SQL names of a table's composite primary key (`primaryKey({ columns })`), if it has one. */
function compositeKey(table: Table): string[] {
  const build = table[EXTRA_CONFIG_BUILDER];
  if (typeof build !== "function") return [];
  const config = (build as (c: unknown) => unknown)(table[EXTRA_CONFIG_COLUMNS]) as Record<string, unknown>;
  for (const builder of Array.isArray(config) ? config.flat(1) : Object.values(config ?? {})) {
    const kind = (builder as { constructor?: Record<symbol, unknown> })?.constructor?.[ENTITY_KIND];
    if (kind === "PgPrimaryKeyBuilder") return (builder as { columns: Column[] }).columns.map((c) => c.name);
  }
  return [];
}

/**
 * Each table's plural GraphQL field as Ponder names it (`device` → `devices`) with its columns' types and
 * primary key: what a cursor Ponder returned for that field names.
 */
export function cursorTables(schema: Record<string, unknown>): CursorTables {
  const tables = new Map<string, CursorTable>();
  for (const [tsName, value] of Object.entries(schema)) {
    const columns = columnsOf(value);
    if (columns === undefined) continue;
    const types = new Map<string, CursorValueType | "other">();
    for (const [js, column] of Object.entries(columns)) {
      const type = column.dataType;
      if (column.columnType === "PgHex") types.set(js, "hex");
      else
        types.set(
          js,
          type === "string" || type === "number" || type === "bigint" || type === "boolean" ? type : "other",
        );
    }
    const composite = compositeKey(value as Table);
    const primaryKey = Object.entries(columns)
      .filter(([, column]) => (composite.length > 0 ? composite.includes(column.name) : column.primary))
      .map(([js]) => js);
    tables.set(`${tsName.charAt(0).toLowerCase()}${tsName.slice(1)}s`, { columns: types, primaryKey });
  }
  return tables;
}
