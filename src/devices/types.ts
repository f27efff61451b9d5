/**
 * The device type catalogue: type ids the tools accept, by number or by name. A type outside it is
 * reported as unknown before any transaction. Extend it here as models are added.
 */
export const DEVICE_TYPES: Readonly<Record<number, string>> = {
  1: "sensor",
  2: "actuator",
  3: "lock",
  4: "camera",
  5: "meter",
  6: "gateway",
};

/** Resolves "3", "lock" or 3 to a known type id, or undefined. */
export function deviceTypeId(value: string | number): number | undefined {
  if (typeof value === "number" || /^\d+$/.test(value)) {
    const id = Number(value);
    return DEVICE_TYPES[id] === undefined ? undefined : id;
  }
  const entry = Object.entries(DEVICE_TYPES).find(([, name]) => name === value.toLowerCase());
  return entry === undefined ? undefined : Number(entry[0]);
}

export function deviceTypeName(id: number | bigint): string {
  return DEVICE_TYPES[Number(id)] ?? `type ${id}`;
}
