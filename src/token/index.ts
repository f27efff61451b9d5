export * from "./transfer";
export * from "./permit";
