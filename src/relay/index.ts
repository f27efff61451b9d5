export * from "./checks";
export * from "./metrics";
export * from "./serve";
export * from "./service";
