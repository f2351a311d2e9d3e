// An echo provider for tzurot in AssemblyScript: it answers
// "<prefix><the user's last message>", streams it word by word, and
// reports usage, using only the raw ABI v1 (docs/plugin-abi.md) and the
// Extism PDK for input, output and kernel memory.
//
// Build: npm ci && npm run build   (writes as-provider.wasm)

import { Config, Host, Memory } from "@extism/as-pdk";
import { error_set } from "@extism/as-pdk/lib/env";
import { JSONReader, JSONValue, J_ARR, J_OBJ, quote } from "./json";

// Host functions of ABI v1. Every u64 is an Extism kernel-memory offset.
@external("tzurot:host/v1", "emit")
declare function host_emit(chunk: u64): void;
@external("tzurot:host/v1", "record_usage")
declare function host_record_usage(usage: u64): i32;
@external("tzurot:host/v1", "log")
declare function host_log(entry: u64): void;

// utf8 copies s into kernel memory as UTF-8 bytes. Memory.store copies 8
// bytes per host call; Memory.allocateBytes would copy one byte per call.
function utf8(s: string): Memory {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  const m = Memory.allocate(bytes.length);
  m.store(bytes);
  return m;
}

// output sets the call's output. Never Host.outputString: as-pdk 1.0.0
// passes the UTF-16 length, which cuts "Grüße ✓" short.
function output(s: string): void {
  Host.output(Uint8Array.wrap(String.UTF8.encode(s)));
}

// fail sets a typed abi.Error and returns 1, the ABI's error return code.
function fail(code: string, message: string): i32 {
  const m = utf8("{\"code\":" + quote(code) + ",\"message\":" + quote(message) + "}");
  error_set(m.offset);
  return 1;
}

function log(level: string, message: string): void {
  const m = utf8("{\"level\":" + quote(level) + ",\"message\":" + quote(message) + "}");
  host_log(m.offset);
  m.free();
}

function emit(text: string): void {
  const m = utf8(text);
  host_emit(m.offset);
  m.free();
}

// The marker export: its presence says "I speak ABI v1". Never called.
export function tzurot_abi_v1(): i32 {
  return 0;
}

export function describe(): i32 {
  output(
    "{\"abi\":1,\"name\":\"as-echo\",\"version\":\"0.1.0\"," +
      "\"summary\":\"Echoes your last message (an AssemblyScript example).\"," +
      "\"capabilities\":[\"llm.chat\"],\"needs_key\":false,\"needs_network\":false}",
  );
  return 0;
}

export function chat(): i32 {
  const r = new JSONReader(String.UTF8.decode(Host.input().buffer));
  const req = r.parse();
  if (r.error != "" || req.kind != J_OBJ) {
    return fail("bad_request", "the input is not a chat request: " + r.error);
  }
  const messages = req.get("messages");
  let last = "";
  let found = false;
  if (messages.kind == J_ARR) {
    for (let i = 0; i < messages.items.length; i++) {
      const m: JSONValue = messages.items[i];
      if (m.get("role").s == "user") {
        last = m.get("content").s;
        found = true;
      }
    }
  }
  if (!found) return fail("bad_request", "there is no user message to echo");

  const prefixed = Config.get("prefix");
  const content = (prefixed === null ? "" : prefixed) + last;
  const words = content.split(" ");
  if (req.get("stream").b) {
    for (let i = 0; i < words.length; i++) {
      emit(i + 1 < words.length ? words[i] + " " : words[i]);
    }
  }
  const usage =
    "{\"kind\":\"text\",\"model\":\"as-echo-1\",\"input_tokens\":" +
    last.split(" ").length.toString() +
    ",\"output_tokens\":" + words.length.toString() + "}";
  const u = utf8(usage);
  const rc = host_record_usage(u.offset);
  u.free();
  if (rc != 0) return fail("internal", "the host rejected the usage record");
  log("info", "echoed " + words.length.toString() + " words");

  output(
    "{\"content\":" + quote(content) +
      ",\"model\":\"as-echo-1\",\"finish_reason\":\"stop\",\"usage\":" + usage + "}",
  );
  return 0;
}

// abort turns an AssemblyScript abort (failed assert, out of bounds) into
// a wasm trap; the host then reports the call as failed.
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}
