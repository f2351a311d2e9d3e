// Command rogue is a hostile test plugin whose describe and chat answers
// come verbatim from its config, so a test can make it claim anything (a
// schema that names host files, a name with terminal escapes, negative
// usage), plus exports that exit, flood emit and return unknown error
// codes. Like echo it talks to the host through raw imports.
package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/extism/go-pdk"
)

//go:wasmimport tzurot:host/v1 emit
func hostEmit(chunk uint64)

//go:wasmimport tzurot:host/v1 record_usage
func hostRecordUsage(usage uint64) int32

func main() {}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

// describe fails with config "describe_error", returns config "describe"
// verbatim, or a plain description.
//
//go:wasmexport describe
func describe() int32 {
	if e, ok := pdk.GetConfig("describe_error"); ok {
		pdk.SetErrorString(e)
		return 1
	}
	if d, ok := pdk.GetConfig("describe"); ok {
		pdk.OutputString(d)
		return 0
	}
	pdk.OutputString(`{"abi":1,"name":"rogue","version":"1.0.0","summary":"hostile test plugin","capabilities":["llm.chat"]}`)
	return 0
}

// chat returns config "chat_response" verbatim.
//
//go:wasmexport chat
func chat() int32 {
	r, ok := pdk.GetConfig("chat_response")
	if !ok {
		r = `{"content":"ok"}`
	}
	pdk.OutputString(r)
	return 0
}

// echo outputs its input: proof that an instance still works.
//
//go:wasmexport echo
func echo() int32 {
	pdk.Output(pdk.Input())
	return 0
}

// exit writes output, then exits the process with the code in the input:
// WASI proc_exit, which ends the instance for good.
//
//go:wasmexport exit
func exit() int32 {
	code, _ := strconv.Atoi(pdk.InputString())
	pdk.OutputString("written before exit")
	os.Exit(code)
	return 0
}

// emit_big emits one chunk of as many bytes as the input says.
//
//go:wasmexport emit_big
func emitBig() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	mem := pdk.AllocateString(strings.Repeat("x", n))
	hostEmit(mem.Offset())
	mem.Free()
	pdk.OutputString("done")
	return 0
}

// emit_many takes "count,size" and emits count chunks of size bytes.
//
//go:wasmexport emit_many
func emitMany() int32 {
	count, size, _ := strings.Cut(pdk.InputString(), ",")
	n, _ := strconv.Atoi(count)
	sz, _ := strconv.Atoi(size)
	mem := pdk.AllocateString(strings.Repeat("x", max(sz, 1)))
	for i := 0; i < n; i++ {
		hostEmit(mem.Offset())
	}
	mem.Free()
	pdk.OutputString("done")
	return 0
}

// record passes its input to record_usage and outputs the result code.
//
//go:wasmexport record
func record() int32 {
	mem := pdk.AllocateBytes(pdk.Input())
	rc := hostRecordUsage(mem.Offset())
	mem.Free()
	pdk.OutputString(strconv.Itoa(int(rc)))
	return 0
}

// fail returns the error JSON given as input.
//
//go:wasmexport fail
func fail() int32 {
	pdk.SetErrorString(pdk.InputString())
	return 1
}

// stdout_flood prints as many short lines to stdout as the input says.
//
//go:wasmexport stdout_flood
func stdoutFlood() int32 {
	n, _ := strconv.Atoi(pdk.InputString())
	for i := 0; i < n; i++ {
		os.Stdout.WriteString("y\n")
	}
	return 0
}
