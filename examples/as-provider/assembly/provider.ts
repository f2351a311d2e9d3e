// A tzurot provider in AssemblyScript: it sends the conversation to an
// OpenAI-compatible chat completions API through the host (the host
// injects the user's key), reads the answer with json-as and records the
// usage. abi.ts is the ABI v1 glue; docs/plugin-abi.md §13 walks through
// both files, and a test keeps the doc identical to them.
//
// Build: npm ci && npm run build   (writes as-provider.wasm)

// begin:doc provider
import { JSON } from "json-as";
import { Config } from "@extism/as-pdk";
import {
  ChatRequest, ChatResponse, HTTPRequest, Message, Usage,
  fail, httpRequest, input, log, logAbort, output, recordUsage,
} from "./abi";

// The provider's own wire format (OpenAI chat completions).
@json
class ProviderRequest {
  model: string = "";
  messages: Message[] = [];
  @omitif((self: ProviderRequest) => self.max_tokens <= 0)
  max_tokens: i64 = 0;
}

@json
class ProviderMessage {
  content: string | null = null; // null when the model only calls tools
}

@json
class Choice {
  message: ProviderMessage = new ProviderMessage();
  finish_reason: string | null = null;
}

@json
class CompletionDetails {
  reasoning_tokens: i64 = 0;
}

@json
class ProviderUsage {
  prompt_tokens: i64 = 0;
  completion_tokens: i64 = 0; // includes reasoning tokens
  completion_tokens_details: CompletionDetails | null = null;
}

@json
class ProviderReply {
  model: string = "";
  choices: Choice[] = [];
  usage: ProviderUsage | null = null;
}

// The marker export: its presence says "I speak ABI v1". Never called.
export function tzurot_abi_v1(): i32 {
  return 0;
}

export function describe(): i32 {
  return output(
    '{"abi":1,"name":"as-provider","version":"0.2.0",' +
      '"summary":"OpenAI-compatible chat (an AssemblyScript example).",' +
      '"capabilities":["llm.chat"],"needs_key":true,"needs_network":true}',
  );
}

// codeFor turns a provider's HTTP status into an ABI error code (§6).
function codeFor(status: i32): string {
  if (status == 401 || status == 403) return "invalid_key";
  if (status == 402) return "no_credit";
  if (status == 429) return "rate_limited";
  if (status == 408 || status == 504) return "timeout";
  if (status == 400 || status == 404 || status == 422) return "bad_request";
  return "unavailable";
}

export function chat(): i32 {
  const req = JSON.parse<ChatRequest>(input());
  const base = Config.get("base_url");
  if (base === null) return fail("internal", "plugins.toml sets no base_url for this plugin");
  let model = req.model;
  if (model == "") {
    const def = Config.get("default_model");
    model = def === null ? "" : def;
  }

  const body = new ProviderRequest();
  body.model = model;
  body.messages = req.messages;
  body.max_tokens = req.max_tokens;
  const httpReq = new HTTPRequest(); // method POST, auth {}: the host adds the key
  httpReq.url = base + "/chat/completions";
  httpReq.headers.set("Content-Type", "application/json");
  httpReq.body = JSON.stringify(body);

  const res = httpRequest(httpReq);
  const err = res.error;
  if (err !== null) return fail(err.code, err.message); // denied, no_key, timeout, unavailable
  if (res.status != 200) {
    return fail(codeFor(res.status), "the provider answered " + res.status.toString() + ": " + res.body.slice(0, 300));
  }
  const reply = JSON.parse<ProviderReply>(res.body);
  if (reply.choices.length == 0) return fail("unavailable", "the provider sent no choices");

  const usage = new Usage();
  usage.model = reply.model;
  const pu = reply.usage;
  if (pu !== null) {
    usage.input_tokens = pu.prompt_tokens;
    usage.output_tokens = pu.completion_tokens;
    const details = pu.completion_tokens_details;
    if (details !== null) usage.reasoning_tokens = details.reasoning_tokens;
  }
  if (!recordUsage(usage)) return fail("internal", "the host rejected the usage record");
  log("info", "answered with " + usage.output_tokens.toString() + " output tokens");

  const choice = reply.choices[0];
  const resp = new ChatResponse();
  const content = choice.message.content;
  resp.content = content === null ? "" : content;
  resp.model = reply.model;
  const finish = choice.finish_reason;
  resp.finish_reason = finish === null ? "" : finish;
  resp.usage = usage;
  return output(JSON.stringify(resp));
}

// abort runs on a failed assertion, an out-of-bounds access, or JSON that
// json-as cannot read. Log why, then trap: the host reports the call as
// failed (code internal) and discards the instance.
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  logAbort("abort: " + (message === null ? "" : message) + " at " + (fileName === null ? "?" : fileName) + ":" + line.toString());
  unreachable();
}
// end:doc provider
