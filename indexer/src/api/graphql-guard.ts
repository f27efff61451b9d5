import { Kind, parse, visit } from "graphql";
import type { ValueNode } from "graphql";

import { shown } from "./params";

/** A GraphQL request as a client sends it (POST JSON body, or GET search parameters). */
export interface GraphqlRequest {
  query?: unknown;
  variables?: unknown;
}

/** Whether a cursor is one Ponder could have returned: base64 of a JSON object (superjson). */
function cursorDecodes(cursor: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(cursor)) return false;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64").toString("utf8"));
    return typeof value === "object" && value !== null && "json" in value;
  } catch {
    return false;
  }
}

/**
 * The arguments Ponder's GraphQL takes without a useful check: a negative `limit` (answered by an empty
 * page) and an `after`/`before` cursor that does not decode (answered by the parser's message). Returns
 * the one line refusing the first such argument, or undefined (malformed documents are left to Ponder).
 */
export function refuseGraphqlArguments(request: GraphqlRequest): string | undefined {
  if (typeof request.query !== "string") return undefined;
  const variables =
    typeof request.variables === "object" && request.variables !== null
      ? (request.variables as Record<string, unknown>)
      : {};
  let document;
  try {
    document = parse(request.query, { maxTokens: 2000 });
  } catch {
    return undefined; // Ponder answers a syntax error itself
  }
  const valueOf = (node: ValueNode): unknown => {
    if (node.kind === Kind.VARIABLE) return variables[node.name.value];
    if (node.kind === Kind.INT) return Number(node.value);
    if (node.kind === Kind.STRING) return node.value;
    return undefined;
  };
  let refusal: string | undefined;
  visit(document, {
    Argument(node) {
      if (refusal !== undefined) return;
      const value = valueOf(node.value);
      if (node.name.value === "limit" && typeof value === "number" && value < 0)
        refusal = `limit ${value} is negative: give 1 to 1000`;
      if ((node.name.value === "after" || node.name.value === "before") && typeof value === "string")
        if (!cursorDecodes(value))
          refusal = `${node.name.value} cursor ${shown(value)} is not a cursor this API returned (pageInfo.startCursor / endCursor)`;
    },
  });
  return refusal;
}
