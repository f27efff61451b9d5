import { isRouteErrorResponse, useRouteError } from "react-router";

/**
 * What a page that still throws shows instead of React Router's stack page: one plain line, the nav above it
 * left working. A page names its own expected failures itself; this is the net under anything it missed.
 */
export function RouteError() {
  const error = useRouteError();
  const said = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : String(error);
  const line = said.split("\n")[0]!.slice(0, 200);
  return (
    <p role="alert" className="error" data-testid="route-error">
      This page failed: {line}. Reload it, or open another page.
    </p>
  );
}
