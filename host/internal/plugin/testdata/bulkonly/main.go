// Command bulkonly is the host's test plugin for abi.BulkInputExport: it
// says it reads its input only through the input blob, and its one export
// reports what each path holds, so the host's test can see that the input
// was not also copied into Extism's kernel memory.
package main

import (
	"strconv"

	"github.com/extism/go-pdk"

	"github.com/tzurot-go/tzurot/sdk/kernel"
)

//go:wasmimport tzurot:host/v1 blob_len
func hostBlobLen(handle int64) int64

func main() {}

//go:wasmexport tzurot_abi_v1
func marker() int32 { return 0 }

//go:wasmexport tzurot_bulk_input
func bulkInput() int32 { return 0 }

//go:wasmexport describe
func describe() int32 {
	kernel.Output([]byte(`{"abi":1,"name":"bulkonly","version":"1.0.0","capabilities":["llm.chat"]}`))
	return 0
}

// sizes reports the input's length as Extism's input and as the input blob, and
// the input itself as read through the bulk path.
//
//go:wasmexport sizes
func sizes() int32 {
	in := kernel.Input()
	kernel.Output([]byte("extism=" + strconv.Itoa(len(pdk.Input())) + " bulk=" + strconv.FormatInt(hostBlobLen(0), 10) + " " + string(in)))
	return 0
}

//go:wasmexport chat
func chat() int32 {
	pdk.SetErrorString(`{"code":"internal","message":"not a chat plugin"}`)
	return 1
}
