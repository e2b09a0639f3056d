// The transfer engine's one door: everything outside src/transfer/ imports from here.
export { createTransfer, defaultTransferOptions, type Transfer, type TransferOptions } from "./transfer.ts";
export { partialBytes } from "./state.ts";
