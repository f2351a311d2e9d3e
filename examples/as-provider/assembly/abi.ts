// The tzurot plugin ABI v1 (docs/plugin-abi.md) for AssemblyScript: the
// wire types as json-as classes, and the host functions as plain calls.
// Copy this file into your own plugin; index.ts is the provider itself.

// begin:doc abi
import { JSON } from "json-as";
import { Host, Memory } from "@extism/as-pdk";
import { error_set, length } from "@extism/as-pdk/lib/env";

// Host functions of tzurot:host/v1. Every u64 is a kernel-memory offset.
@external("tzurot:host/v1", "http_request")
declare function host_http_request(req: u64): u64;
@external("tzurot:host/v1", "record_usage")
declare function host_record_usage(usage: u64): i32;
@external("tzurot:host/v1", "log")
declare function host_log(entry: u64): void;

// Wire types: only the fields this plugin reads or writes. json-as skips
// unknown members, and a member that is absent keeps its default.
@json
export class Message {
  role: string = "";
  content: string = "";
}

@json
export class ChatRequest {
  model: string = "";
  messages: Message[] = [];
  max_tokens: i64 = 0; // 0: absent
}

@json
export class Usage {
  kind: string = "text";
  model: string = "";
  input_tokens: i64 = 0;
  output_tokens: i64 = 0; // includes reasoning_tokens
  reasoning_tokens: i64 = 0;
}

@json
export class ChatResponse {
  content: string = "";
  model: string = "";
  finish_reason: string = "";
  usage: Usage = new Usage();
}

@json
export class Auth {} // {}: "Authorization: Bearer <the caller's key>"

@json
export class HTTPRequest {
  method: string = "POST";
  url: string = "";
  headers: Map<string, string> = new Map<string, string>();
  body: string = "";
  auth: Auth = new Auth();
}

@json
export class ABIError {
  code: string = "";
  message: string = "";
}

@json
export class HTTPResponse {
  status: i32 = 0;
  body: string = "";
  error: ABIError | null = null;
}

// toHost copies s into kernel memory as UTF-8. Memory.store copies 8 bytes
// per host call (Memory.allocateString copies one).
function toHost(s: string): Memory {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  const m = Memory.allocate(bytes.length);
  m.store(bytes);
  return m;
}

// fromHost reads a block the host returned, decoding UTF-8.
function fromHost(offset: u64): string {
  return new Memory(offset, length(offset)).toString();
}

// input reads the call's input; output sets the call's output. Never
// Host.outputString: as-pdk 1.0.0 passes the UTF-16 length, which cuts
// non-ASCII text short.
export function input(): string {
  return String.UTF8.decode(Host.input().buffer);
}
export function output(json: string): i32 {
  Host.output(Uint8Array.wrap(String.UTF8.encode(json)));
  return 0;
}

// fail sets a typed error and returns 1, the ABI's error return code.
export function fail(code: string, message: string): i32 {
  const e = new ABIError();
  e.code = code;
  e.message = message;
  error_set(toHost(JSON.stringify(e)).offset);
  return 1;
}

// httpRequest sends req through the host: allow-list, retries, the key
// injected for "auth". Failures come back as res.error, never as a trap.
export function httpRequest(req: HTTPRequest): HTTPResponse {
  const res = host_http_request(toHost(JSON.stringify(req)).offset);
  return JSON.parse<HTTPResponse>(fromHost(res));
}

// recordUsage bills the call; false when the host rejected the record.
export function recordUsage(u: Usage): bool {
  return host_record_usage(toHost(JSON.stringify(u)).offset) == 0;
}

@json
class LogEntry {
  level: string = "info";
  message: string = "";
}

export function log(level: string, message: string): void {
  const e = new LogEntry();
  e.level = level;
  e.message = message;
  const m = toHost(JSON.stringify(e));
  host_log(m.offset);
  m.free();
}

// logAbort is log for abort, which json-as itself may call while it starts
// up, so it must not use json-as: it writes the entry by hand and drops
// the characters JSON would need to escape.
export function logAbort(message: string): void {
  let safe = "";
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c >= 32 && c != 34 && c != 92) safe += String.fromCharCode(c);
  }
  const m = toHost('{"level":"error","message":"' + safe + '"}');
  host_log(m.offset);
  m.free();
}
// end:doc abi
