// The transfer engine's one door: everything outside src/transfer/ imports from here.
export {
  createTransfer, defaultTransferOptions,
  type FetchOutcome, type FetchRequest, type Transfer, type TransferEvent, type TransferOptions,
} from "./transfer.ts";
export { partialBytes } from "./state.ts";
export { sha256OfFile, verifyFileOnDisk } from "./verify.ts";
