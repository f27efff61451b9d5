import { Kind, parse } from "graphql";
import type { DocumentNode, FieldNode, FragmentDefinitionNode, SelectionNode, ValueNode } from "graphql";

import { literalOf, refuseVariables, valueChecker } from "./graphql-values";
import { shown } from "./params";

/** A GraphQL request as a client sends it (POST JSON body, or GET search parameters). */
export interface GraphqlRequest {
  query?: unknown;
  variables?: unknown;
}

/**
 * What one document may ask of the database: rows a page (Ponder's own cap), rows in all (its pages' limits
 * added up, 50 where none is given: Ponder allows 30 aliases of 1000 rows), the offset (Ponder allows any),
 * the tables it reads (fields or aliases at its top), fields in all (fragments expanded), depth, and
 * introspection lists nested in one another (`types { fields { type { fields … } } }` grows as a power of
 * the schema). GraphiQL's own introspection query (217 fields, depth 15, 3 nested lists) fits.
 */
export const GRAPHQL_BOUNDS = {
  page: 1000,
  rows: 2000,
  offset: 10_000,
  tables: 10,
  fields: 300,
  depth: 15,
  lists: 3,
} as const;
/** Ponder's page when no `limit` is given. */
const DEFAULT_PAGE = 50;

/** Introspection fields that answer a list. */
const INTROSPECTION_LISTS = new Set([
  "types",
  "fields",
  "inputFields",
  "args",
  "enumValues",
  "interfaces",
  "possibleTypes",
  "directives",
]);

/**
 * A column's value type as Ponder's cursors carry it (superjson: bigints as decimal strings, marked); `hex`
 * is Ponder's `t.hex()`, stored as lower-case hex: 20 bytes (an address) or 32 in this schema.
 */
export type CursorValueType = "string" | "hex" | "number" | "bigint" | "boolean";

/** A table's columns by name and its primary key: what a cursor of its plural field must name. */
export interface CursorTable {
  columns: ReadonlyMap<string, CursorValueType | "other">;
  primaryKey: readonly string[];
}

/** Each plural query field (`devices`, `walletPeriodUses`) with its table. */
export type CursorTables = ReadonlyMap<string, CursorTable>;

/** A value of a cursor's JSON, checked against its column's type. */
function valueFits(value: unknown, type: CursorValueType | "other" | undefined, bigint: boolean): boolean {
  if (bigint) return type === "bigint" && typeof value === "string" && /^-?\d{1,78}$/.test(value);
  if (type === "string") return typeof value === "string" && !value.includes("\u0000");
  // Every hex column of the schema is an address (20 bytes) or a 32-byte id, key, root or hash.
  if (type === "hex") return typeof value === "string" && /^0x(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value);
  if (type === "number") return typeof value === "number" && Number.isFinite(value);
  if (type === "boolean") return typeof value === "boolean";
  return false;
}

/**
 * Whether a cursor is one Ponder could have returned for `table` ordered by `orderBy`: base64 of superjson
 * naming exactly the order's columns (the `orderBy` column and the primary key), each a value of its type.
 * Anything else would reach Ponder's SQL as a comparison with a missing or mistyped value.
 */
function cursorFits(cursor: string, table: CursorTable | undefined, orderBy: unknown): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(cursor)) return false;
  let decoded: { json?: unknown; meta?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64").toString("utf8")) as typeof decoded;
  } catch {
    return false;
  }
  const { json, meta } = decoded ?? {};
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false;
  const marks = (meta as { values?: Record<string, unknown> } | undefined)?.values ?? {};
  if (typeof marks !== "object" || marks === null) return false;
  const entries = Object.entries(json as Record<string, unknown>);
  if (table === undefined) return entries.length > 0; // a field this guard does not know: Ponder checks it
  const expected = new Set(table.primaryKey);
  if (typeof orderBy === "string") expected.add(orderBy);
  if (entries.length !== expected.size) return false;
  for (const [key, value] of entries) {
    const mark = (marks as Record<string, unknown>)[key];
    const bigint = Array.isArray(mark) && mark.length === 1 && mark[0] === "bigint";
    if (mark !== undefined && !bigint) return false;
    if (!expected.has(key) || !valueFits(value, table.columns.get(key), bigint)) return false;
  }
  return true;
}

/** The walk of one document: its fragments, variables (defaults filled in), and what it has counted. */
interface Walk {
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  tables: CursorTables;
  fields: number;
  roots: number;
  rows: number;
  /** Checks a literal argument's value (lists, depth, NUL, LIKE wildcards), counting values over the request. */
  check: (value: unknown, key: string) => string | undefined;
  refusal?: string;
}

/** An argument's value: a literal, or a variable as sent (or its default). */
function valueOf(walk: Walk, node: ValueNode): unknown {
  if (node.kind === Kind.VARIABLE) return walk.variables[node.name.value];
  if (node.kind === Kind.INT || node.kind === Kind.FLOAT) return Number(node.value);
  if (node.kind === Kind.STRING || node.kind === Kind.ENUM) return node.value;
  if (node.kind === Kind.NULL) return null;
  return undefined;
}

/** The refusal of a field's `limit`, `offset`, `after` or `before`, if one is out of bounds or not a cursor. */
function refuseArguments(walk: Walk, field: FieldNode): string | undefined {
  for (const argument of field.arguments ?? []) {
    if (argument.value.kind === Kind.VARIABLE) continue; // checked as sent
    const refusal = walk.check(literalOf(argument.value), argument.name.value);
    if (refusal !== undefined) return refusal;
  }
  const args = new Map(field.arguments?.map((a) => [a.name.value, valueOf(walk, a.value)]));
  const direction = args.get("orderDirection");
  if (direction !== undefined && direction !== null && direction !== "asc" && direction !== "desc")
    return `orderDirection ${typeof direction === "string" ? shown(direction) : String(direction)} is not asc or desc`;
  const limit = args.get("limit");
  if (typeof limit === "number" && (limit < 1 || limit > GRAPHQL_BOUNDS.page))
    return `limit ${limit} is outside 1-${GRAPHQL_BOUNDS.page} (rows a page; follow pageInfo.endCursor for more)`;
  // A page of a table (or any field given a limit) reads its limit's rows, however few it selects.
  if (walk.tables.has(field.name.value) || typeof limit === "number")
    walk.rows += typeof limit === "number" ? limit : DEFAULT_PAGE;
  if (walk.rows > GRAPHQL_BOUNDS.rows)
    return `the document's pages add up to more than ${GRAPHQL_BOUNDS.rows} rows (their limits, ${DEFAULT_PAGE} where none is given); split it`;
  const offset = args.get("offset");
  if (typeof offset === "number" && (offset < 0 || offset > GRAPHQL_BOUNDS.offset))
    return `offset ${offset} is outside 0-${GRAPHQL_BOUNDS.offset}; page with the after cursor instead`;
  for (const name of ["after", "before"]) {
    const cursor = args.get(name);
    if (typeof cursor === "string" && !cursorFits(cursor, walk.tables.get(field.name.value), args.get("orderBy")))
      return `${name} cursor ${shown(cursor)} is not a cursor this API returned for ${field.name.value} (pageInfo.startCursor / endCursor)`;
  }
  return undefined;
}

/** Counts and checks the selections at `depth` (1: the document's top), with `lists` introspection lists above. */
function walkSelections(
  walk: Walk,
  selections: readonly SelectionNode[],
  depth: number,
  lists: number,
  seen: string[],
) {
  for (const selection of selections) {
    if (walk.refusal !== undefined) return;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      walkSelections(walk, selection.selectionSet.selections, depth, lists, seen);
      continue;
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = walk.fragments.get(selection.name.value);
      if (fragment === undefined || seen.includes(fragment.name.value)) continue; // Ponder refuses these
      walkSelections(walk, fragment.selectionSet.selections, depth, lists, [...seen, fragment.name.value]);
      continue;
    }
    const name = selection.name.value;
    const nested = lists + (INTROSPECTION_LISTS.has(name) ? 1 : 0);
    if (++walk.fields > GRAPHQL_BOUNDS.fields)
      walk.refusal = `the document selects more than ${GRAPHQL_BOUNDS.fields} fields (fragments expanded); split it`;
    else if (depth > GRAPHQL_BOUNDS.depth)
      walk.refusal = `the document is nested more than ${GRAPHQL_BOUNDS.depth} deep`;
    else if (nested > GRAPHQL_BOUNDS.lists)
      walk.refusal = `the document nests more than ${GRAPHQL_BOUNDS.lists} introspection lists in one another`;
    else if (depth === 1 && !name.startsWith("__") && ++walk.roots > GRAPHQL_BOUNDS.tables)
      walk.refusal = `the document reads more than ${GRAPHQL_BOUNDS.tables} tables (fields or aliases at its top); split it`;
    else walk.refusal = refuseArguments(walk, selection);
    if (selection.selectionSet !== undefined)
      walkSelections(walk, selection.selectionSet.selections, depth + 1, nested, seen);
  }
}

/** The variables of the document's operations: as sent, else their defaults. */
function variablesOf(document: DocumentNode, sent: Record<string, unknown>): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  const literal = {
    fragments: new Map(),
    variables: {},
    tables: new Map(),
    fields: 0,
    roots: 0,
    rows: 0,
    check: () => undefined,
  } satisfies Walk;
  for (const definition of document.definitions)
    if (definition.kind === Kind.OPERATION_DEFINITION)
      for (const v of definition.variableDefinitions ?? [])
        if (v.defaultValue !== undefined) variables[v.variable.name.value] = valueOf(literal, v.defaultValue);
  return { ...variables, ...sent };
}

/** The refusal of a variable's default written in the document, checked as a literal argument is. */
function refuseDefaults(document: DocumentNode, check: Walk["check"]): string | undefined {
  for (const definition of document.definitions)
    if (definition.kind === Kind.OPERATION_DEFINITION)
      for (const v of definition.variableDefinitions ?? []) {
        const refusal =
          v.defaultValue === undefined ? undefined : check(literalOf(v.defaultValue), v.variable.name.value);
        if (refusal !== undefined) return refusal;
      }
  return undefined;
}

/**
 * What Ponder's GraphQL would do without a useful check or without bound: a page below 1 row, pages adding up
 * to more than 2000 rows, an offset over 10,000, more than 10 tables, 300 fields, 15 levels or 3 nested
 * introspection lists, an `orderDirection` other than asc/desc, and an
 * `after`/`before` cursor that is not one it returned for that field (its order's columns, typed) — variables'
 * defaults included; and values (variables, literal arguments) outside `VALUE_BOUNDS`, with a NUL, or with a
 * LIKE wildcard in a `_contains`/`_starts_with`/`_ends_with` filter. Returns the one line refusing the first such thing, or undefined (malformed documents
 * are left to Ponder, which answers them itself).
 */
export function refuseGraphqlArguments(request: GraphqlRequest, tables: CursorTables = new Map()): string | undefined {
  if (typeof request.query !== "string") return undefined;
  const sent =
    typeof request.variables === "object" && request.variables !== null && !Array.isArray(request.variables)
      ? (request.variables as Record<string, unknown>)
      : {};
  let document: DocumentNode;
  try {
    document = parse(request.query, { maxTokens: 2000 });
  } catch {
    return undefined; // Ponder answers a syntax error itself
  }
  const check = valueChecker();
  const refusal = refuseVariables(request.variables, check) ?? refuseDefaults(document, check);
  if (refusal !== undefined) return refusal;
  const walk: Walk = {
    fragments: new Map(),
    variables: variablesOf(document, sent),
    tables,
    fields: 0,
    roots: 0,
    rows: 0,
    check,
  };
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) walk.fragments.set(definition.name.value, definition);
  for (const definition of document.definitions)
    if (definition.kind === Kind.OPERATION_DEFINITION)
      walkSelections(walk, definition.selectionSet.selections, 1, 0, []);
  return walk.refusal;
}
