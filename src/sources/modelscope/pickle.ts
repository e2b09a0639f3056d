/**
 * The two pickle shapes the modelscope cache files use (protocol-2 pickles, as the library writes them): `.msc` is a list of
 * `{'Path': str, 'Revision': str}` dicts, `.mdl` one `{'id': str}` dict. We write protocol 2 without memo,
 * which every modelscope version loads; we read that back, and also the protocol 4 Python itself writes, so an
 * existing `.msc` keeps its entries.
 */

import { PickleFormatError } from "../../errors.ts";

export type StrDict = Record<string, string>;

const PROTO = 0x80;
const STOP = 0x2e;
const MARK = 0x28;
const EMPTY_LIST = 0x5d;
const EMPTY_DICT = 0x7d;
const APPEND = 0x61;
const APPENDS = 0x65;
const SETITEM = 0x73;
const SETITEMS = 0x75;
const BINUNICODE = 0x58;
const SHORT_BINUNICODE = 0x8c;
const BINUNICODE8 = 0x8d;
const FRAME = 0x95;
const MEMOIZE = 0x94;
const BINPUT = 0x71;
const LONG_BINPUT = 0x72;
const BINGET = 0x68;
const LONG_BINGET = 0x6a;

function str(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const head = Buffer.alloc(5);
  head[0] = BINUNICODE;
  head.writeUInt32LE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

function dict(d: StrDict): Buffer {
  const items = Object.entries(d).flatMap(([k, v]) => [str(k), str(v)]);
  return Buffer.concat([Buffer.of(EMPTY_DICT), ...(items.length ? [Buffer.of(MARK), ...items, Buffer.of(SETITEMS)] : [])]);
}

/** `pickle.dumps(d, protocol=2)` for a dict of str → str, without memo. */
export function pickleDict(d: StrDict): Buffer {
  return Buffer.concat([Buffer.of(PROTO, 2), dict(d), Buffer.of(STOP)]);
}

/** `pickle.dumps(list_of_dicts, protocol=2)` without memo. */
export function pickleDictList(list: readonly StrDict[]): Buffer {
  const items = list.map(dict);
  return Buffer.concat([
    Buffer.of(PROTO, 2, EMPTY_LIST),
    ...(items.length ? [Buffer.of(MARK), ...items, Buffer.of(APPENDS)] : []),
    Buffer.of(STOP),
  ]);
}

type Value = string | StrDict | StrDict[] | typeof MARK_OBJ;
const MARK_OBJ = Symbol("mark");

/**
 * Load a pickle made only of lists, dicts and str (protocols 2–4, with or without memo and frames).
 * Throws a PickleFormatError on anything else, naming `file` when given: callers treat such a file as unreadable.
 */
export function unpickle(data: Uint8Array, file?: string): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  let pos = 0;
  const bad = (problem: string) =>
    new PickleFormatError(
      `${file ?? "A ModelScope cache record"} is not a pickle this tool can read (${problem}, at byte ${pos} of ${buf.length}). ` +
        `Remove it: the next download of the model writes it again.`,
      file,
      pos,
    );
  const need = (n: number) => {
    if (pos + n > buf.length) throw bad("truncated");
  };
  const popMark = (): Value[] => {
    const at = stack.lastIndexOf(MARK_OBJ);
    if (at < 0) throw bad("a MARK is missing");
    return stack.splice(at).slice(1);
  };
  const top = (): Value => {
    const v = stack[stack.length - 1];
    if (v === undefined) throw bad("an operation on an empty stack");
    return v;
  };
  const readStr = (len: number) => {
    need(len);
    const s = buf.toString("utf8", pos, pos + len);
    pos += len;
    stack.push(s);
  };
  const setItems = (d: Value, items: Value[]) => {
    if (typeof d !== "object" || Array.isArray(d) || items.length % 2) throw bad("SETITEMS without a dict or with an odd item count");
    for (let i = 0; i < items.length; i += 2) {
      const [k, v] = [items[i], items[i + 1]];
      if (typeof k !== "string" || typeof v !== "string") throw bad("a dict entry that is not str to str");
      d[k] = v;
    }
  };
  const append = (l: Value, items: Value[]) => {
    if (!Array.isArray(l)) throw bad("APPENDS without a list");
    for (const item of items) {
      if (typeof item !== "object" || Array.isArray(item)) throw bad("a list item that is not a dict");
      l.push(item);
    }
  };
  for (;;) {
    need(1);
    const op = buf[pos++];
    switch (op) {
      case PROTO:
        need(1);
        pos += 1;
        break;
      case FRAME:
        need(8);
        pos += 8;
        break;
      case MARK:
        stack.push(MARK_OBJ);
        break;
      case EMPTY_LIST:
        stack.push([]);
        break;
      case EMPTY_DICT:
        stack.push({});
        break;
      case BINUNICODE:
        need(4);
        pos += 4;
        readStr(buf.readUInt32LE(pos - 4));
        break;
      case SHORT_BINUNICODE:
        need(1);
        pos += 1;
        readStr(buf[pos - 1]!);
        break;
      case BINUNICODE8: {
        need(8);
        const len = Number(buf.readBigUInt64LE(pos));
        pos += 8;
        readStr(len);
        break;
      }
      case MEMOIZE:
        memo.set(memo.size, top());
        break;
      case BINPUT:
        need(1);
        memo.set(buf[pos++]!, top());
        break;
      case LONG_BINPUT:
        need(4);
        memo.set(buf.readUInt32LE(pos), top());
        pos += 4;
        break;
      case BINGET:
      case LONG_BINGET: {
        const n = op === BINGET ? (need(1), buf[pos++]!) : (need(4), (pos += 4), buf.readUInt32LE(pos - 4));
        const v = memo.get(n);
        if (v === undefined) throw bad("a memo reference to nothing");
        stack.push(v);
        break;
      }
      case SETITEM: {
        const v = stack.pop();
        const k = stack.pop();
        if (k === undefined || v === undefined) throw bad("SETITEM without a key and a value");
        setItems(top(), [k, v]);
        break;
      }
      case SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case APPEND: {
        const v = stack.pop();
        if (v === undefined) throw bad("APPEND without an item");
        append(top(), [v]);
        break;
      }
      case APPENDS: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case STOP:
        if (stack.length !== 1) throw bad(`it ends with ${stack.length} values instead of one`);
        return stack[0];
      default:
        throw bad(`unsupported pickle opcode 0x${(op ?? 0).toString(16)}`);
    }
  }
}
