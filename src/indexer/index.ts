export * from "./process";
export * from "./watchdog";
