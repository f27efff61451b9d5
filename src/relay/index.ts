export * from "./checks";
export * from "./client";
export * from "./metrics";
export * from "./serve";
export * from "./service";
