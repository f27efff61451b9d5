import { Kind } from "graphql";
import type { ValueNode } from "graphql";

/**
 * What the values of one GraphQL request (its variables, and its arguments written in the document) may hold:
 * Ponder turns a filter into SQL without bound, so a `where` with 50,000 `OR` items broke its database
 * connection until restart, an `AND` nested 3,000 deep or an `id_in` of 200,000 ids overflowed its stack.
 */
export const VALUE_BOUNDS = {
  /** Characters of the request's variables as JSON. */
  chars: 20_000,
  /** Items of one list (`id_in`, `AND`, `OR`). */
  list: 100,
  /** Values in all (objects, lists, scalars). */
  values: 1000,
  /** Objects and lists nested in one another (a filter's `AND: [{ OR: [{ … }] }]` is 4). */
  depth: 8,
} as const;

/** Filter keys Ponder turns into LIKE patterns (and their `_not_` forms). */
const LIKE_KEY = /_(not_)?(contains|starts_with|ends_with)$/;

/** The count kept while walking one request's values. */
interface Count {
  values: number;
}

/** The refusal of `value` (named `key`, at `depth`), or undefined; walks lists and objects. */
function refuseValue(value: unknown, key: string, depth: number, count: Count): string | undefined {
  if (++count.values > VALUE_BOUNDS.values)
    return `the request's arguments and variables hold more than ${VALUE_BOUNDS.values} values; split it`;
  if (typeof value === "string") {
    if (value.includes("\u0000")) return `${key} holds a NUL character (\\u0000), which no stored text contains`;
    if (LIKE_KEY.test(key) && /[%_\\]/.test(value))
      return `${key}: wildcards (%, _ and \\) are not supported; give the text to match literally without them`;
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  if (depth > VALUE_BOUNDS.depth)
    return `${key} nests objects and lists more than ${VALUE_BOUNDS.depth} deep; flatten the filter`;
  if (Array.isArray(value)) {
    if (value.length > VALUE_BOUNDS.list)
      return `${key} lists ${value.length} items, more than ${VALUE_BOUNDS.list}; split the request`;
    for (const item of value) {
      const refusal = refuseValue(item, key, depth + 1, count);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }
  for (const [name, item] of Object.entries(value)) {
    if (name.includes("\u0000")) return `${key} has a key holding a NUL character (\\u0000)`;
    const refusal = refuseValue(item, name, depth + 1, count);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** A walk of values over one request: `check` refuses a value, or the request once its values add up too much. */
export function valueChecker(): (value: unknown, key: string) => string | undefined {
  const count: Count = { values: 0 };
  return (value, key) => refuseValue(value, key, 1, count);
}

/** The refusal of a request's variables as sent: their size, then each value (lists, depth, NUL, wildcards). */
export function refuseVariables(variables: unknown, check: (value: unknown, key: string) => string | undefined) {
  if (variables === undefined || variables === null) return undefined;
  if (typeof variables !== "object" || Array.isArray(variables)) return "variables is not an object";
  // Bounded depth first: JSON.stringify of a value nested 100,000 deep would itself overflow the stack.
  for (const [name, value] of Object.entries(variables)) {
    const refusal = name.includes("\u0000") ? "a variable's name holds a NUL character" : check(value, name);
    if (refusal !== undefined) return refusal;
  }
  const chars = JSON.stringify(variables).length;
  if (chars > VALUE_BOUNDS.chars)
    return `variables are ${chars} characters of JSON, more than ${VALUE_BOUNDS.chars}; split the request`;
  return undefined;
}

/** A literal argument as JSON (objects and lists too); a variable inside it is left out (its value is checked as sent). */
export function literalOf(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.LIST:
      return node.values.map(literalOf);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalOf(f.value)]));
    default:
      return null; // NULL, or a variable
  }
}
