import type { FormEvent, ReactNode } from "react";
import { useSearchParams } from "react-router";

/* The filter forms of the indexer's list pages (fleet, channels): their fields are read from the address and
 * put back there on submit, so a filtered list is a link. */

/**
 * The filters `keys` of a list page, read from the address (`?key=value`; an empty one is left out), and
 * `apply`, a filter form's submit handler: it puts the form's non-empty fields (trimmed), then `keep` (e.g.
 * a page size), in the address.
 */
export function useSearchFilters<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const filters: Partial<Record<K, string>> = {};
  for (const k of keys) {
    const v = params.get(k);
    if (v !== null && v !== "") filters[k] = v;
  }
  function apply(event: FormEvent<HTMLFormElement>, keep: Record<string, string> = {}) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const k of keys) {
      const v = String(form.get(k) ?? "").trim();
      if (v !== "") next.set(k, v);
    }
    for (const [k, v] of Object.entries(keep)) next.set(k, v);
    setParams(next);
  }
  return { params, filters, apply };
}

/** A list's filter form: its fields (`children`, named as the filters), then the Filter button. */
export function FilterForm({
  onSubmit,
  children,
}: {
  onSubmit: (event: FormEvent<HTMLFormElement>) => void;
  children: ReactNode;
}) {
  return (
    <form className="filters" onSubmit={onSubmit} aria-label="Filters">
      {children}
      <div>
        <button type="submit">Filter</button>
      </div>
    </form>
  );
}

/** A filter form's text field `name` (its value from the address), under `label`. */
export function TextField(props: { label: string; name: string; value: string | undefined; numeric?: boolean }) {
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        defaultValue={props.value ?? ""}
        {...(props.numeric === true ? { inputMode: "numeric" as const } : { placeholder: "0x…" })}
      />
    </label>
  );
}

/** A filter form's Status field (`status`): any, or one of `statuses`. */
export function StatusField({ statuses, value }: { statuses: readonly string[]; value: string | undefined }) {
  return (
    <label>
      Status
      <select name="status" defaultValue={value ?? ""}>
        <option value="">any</option>
        {statuses.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
    </label>
  );
}
