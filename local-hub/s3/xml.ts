import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

export type XmlValue = string | number | boolean | undefined | XmlNode | XmlNode[];
export interface XmlNode {
  [tag: string]: XmlValue;
}

export function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

export function xmlUnescape(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
    if (named[e]) return named[e];
    return String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

// Arrays repeat their tag (S3 lists are `<Contents>…</Contents><Contents>…</Contents>`); undefined drops the element.
function render(tag: string, value: XmlValue): string {
  if (value === undefined) return "";
  if (Array.isArray(value)) return value.map((item) => render(tag, item)).join("");
  if (typeof value === "object") return `<${tag}>${Object.entries(value).map(([t, v]) => render(t, v)).join("")}</${tag}>`;
  return `<${tag}>${xmlEscape(String(value))}</${tag}>`;
}

export function sendXml(res: ServerResponse, status: number, root: string, body: XmlNode, headers: Record<string, string> = {}): void {
  const inner = Object.entries(body).map(([t, v]) => render(t, v)).join("");
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</${root}>`;
  res.writeHead(status, { ...headers, "content-type": "application/xml", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}

/** An S3 error: XML body with Code/Message, except for HEAD, which S3 answers with the status alone. */
export function sendS3Error(res: ServerResponse, method: string, status: number, code: string, message: string, resource = ""): void {
  const requestId = randomBytes(8).toString("hex").toUpperCase();
  if (method === "HEAD") {
    res.writeHead(status, { "x-amz-request-id": requestId }).end();
    return;
  }
  const text =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>` +
    `<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": String(Buffer.byteLength(text)), "x-amz-request-id": requestId });
  res.end(text);
}

/** The `<Part>` entries of a CompleteMultipartUpload body, in the order sent. */
export function parseCompleteParts(xml: string): { partNumber: number; etag: string }[] | undefined {
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) return undefined;
  const parts: { partNumber: number; etag: string }[] = [];
  for (const m of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const body = m[1]!;
    const num = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(body);
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(body);
    if (!num || !etag) return undefined;
    parts.push({ partNumber: Number(num[1]), etag: xmlUnescape(etag[1]!).replace(/"/g, "").trim() });
  }
  return parts;
}
