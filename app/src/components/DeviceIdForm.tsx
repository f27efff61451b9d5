import { useEffect, useState } from "react";

/** A device id field and its button; the id is checked by the page that reads it. */
export function DeviceIdForm({
  initial,
  onSubmit,
  action,
}: {
  initial?: string;
  onSubmit: (id: string) => void;
  action: string;
}) {
  const [value, setValue] = useState(initial ?? "");
  useEffect(() => setValue(initial ?? ""), [initial]);
  return (
    <form
      className="lookup"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim() !== "") onSubmit(value.trim());
      }}
    >
      <label>
        Device id
        <input
          name="deviceId"
          placeholder="0x… (64 hex digits, printed on the box)"
          spellCheck={false}
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
      </label>
      <button type="submit">{action}</button>
    </form>
  );
}
