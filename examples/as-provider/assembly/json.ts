// A small JSON reader and string escaper: enough to read the ABI's JSON
// input without pulling a JSON library into an 11 KB plugin.

export const J_NULL: i32 = 0;
export const J_BOOL: i32 = 1;
export const J_NUM: i32 = 2;
export const J_STR: i32 = 3;
export const J_ARR: i32 = 4;
export const J_OBJ: i32 = 5;

export class JSONValue {
  kind: i32 = J_NULL;
  b: bool = false;
  n: f64 = 0;
  s: string = "";
  items: Array<JSONValue> = [];
  keys: Array<string> = [];
  vals: Array<JSONValue> = [];

  // get returns the member named key, or a null value.
  get(key: string): JSONValue {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.vals[i];
    }
    return new JSONValue();
  }
}

export class JSONReader {
  private i: i32 = 0;
  error: string = "";

  constructor(private t: string) {}

  // parse reads one whole document; check error afterwards.
  parse(): JSONValue {
    const v = this.value();
    this.ws();
    if (this.error == "" && this.i < this.t.length) this.fail("trailing characters");
    return v;
  }

  private fail(msg: string): JSONValue {
    if (this.error == "") this.error = msg + " at offset " + this.i.toString();
    this.i = this.t.length;
    return new JSONValue();
  }

  private ws(): void {
    while (this.i < this.t.length) {
      const c = this.t.charCodeAt(this.i);
      if (c != 32 && c != 9 && c != 10 && c != 13) break;
      this.i++;
    }
  }

  private lit(word: string): bool {
    if (this.t.substr(this.i, word.length) == word) {
      this.i += word.length;
      return true;
    }
    return false;
  }

  private value(): JSONValue {
    this.ws();
    if (this.i >= this.t.length) return this.fail("unexpected end");
    const c = this.t.charCodeAt(this.i);
    const v = new JSONValue();
    if (c == 123) return this.object();
    if (c == 91) return this.array();
    if (c == 34) {
      v.kind = J_STR;
      v.s = this.str();
      return v;
    }
    if (this.lit("true")) { v.kind = J_BOOL; v.b = true; return v; }
    if (this.lit("false")) { v.kind = J_BOOL; return v; }
    if (this.lit("null")) return v;
    const start = this.i;
    while (this.i < this.t.length) {
      const d = this.t.charCodeAt(this.i);
      if ((d >= 48 && d <= 57) || d == 45 || d == 43 || d == 46 || d == 101 || d == 69) this.i++;
      else break;
    }
    if (start == this.i) return this.fail("unexpected character");
    v.kind = J_NUM;
    v.n = parseFloat(this.t.substring(start, this.i));
    return v;
  }

  private object(): JSONValue {
    const v = new JSONValue();
    v.kind = J_OBJ;
    this.i++; // {
    this.ws();
    if (this.i < this.t.length && this.t.charCodeAt(this.i) == 125) { this.i++; return v; }
    while (this.error == "") {
      this.ws();
      if (this.i >= this.t.length || this.t.charCodeAt(this.i) != 34) return this.fail("expected a member name");
      const k = this.str();
      this.ws();
      if (this.i >= this.t.length || this.t.charCodeAt(this.i) != 58) return this.fail("expected ':'");
      this.i++;
      v.keys.push(k);
      v.vals.push(this.value());
      this.ws();
      if (this.i >= this.t.length) return this.fail("unexpected end");
      const c = this.t.charCodeAt(this.i++);
      if (c == 125) return v;
      if (c != 44) return this.fail("expected ',' or '}'");
    }
    return v;
  }

  private array(): JSONValue {
    const v = new JSONValue();
    v.kind = J_ARR;
    this.i++; // [
    this.ws();
    if (this.i < this.t.length && this.t.charCodeAt(this.i) == 93) { this.i++; return v; }
    while (this.error == "") {
      v.items.push(this.value());
      this.ws();
      if (this.i >= this.t.length) return this.fail("unexpected end");
      const c = this.t.charCodeAt(this.i++);
      if (c == 93) return v;
      if (c != 44) return this.fail("expected ',' or ']'");
    }
    return v;
  }

  // str reads a JSON string (the opening quote is at i). The text is
  // UTF-16 here, so \uD83D\uDE00 pairs simply concatenate.
  private str(): string {
    this.i++; // "
    let out = "";
    let start = this.i;
    while (this.i < this.t.length) {
      const c = this.t.charCodeAt(this.i);
      if (c == 34) {
        out += this.t.substring(start, this.i);
        this.i++;
        return out;
      }
      if (c == 92) {
        out += this.t.substring(start, this.i);
        const e = this.t.charCodeAt(this.i + 1);
        this.i += 2;
        if (e == 110) out += "\n";
        else if (e == 116) out += "\t";
        else if (e == 114) out += "\r";
        else if (e == 98) out += "\b";
        else if (e == 102) out += "\f";
        else if (e == 117) {
          out += String.fromCharCode(<i32>parseInt(this.t.substr(this.i, 4), 16));
          this.i += 4;
        } else out += String.fromCharCode(e); // \" \\ \/
        start = this.i;
        continue;
      }
      this.i++;
    }
    this.fail("unterminated string");
    return out;
  }
}

// quote returns s as a JSON string literal. Non-ASCII text stays as is; the
// caller encodes the whole document as UTF-8.
export function quote(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) out += "\\\"";
    else if (c == 92) out += "\\\\";
    else if (c == 10) out += "\\n";
    else if (c == 13) out += "\\r";
    else if (c == 9) out += "\\t";
    else if (c < 32) {
      const h = c.toString(16);
      out += "\\u" + "0000".substring(h.length) + h;
    } else out += String.fromCharCode(c);
  }
  return out + "\"";
}
