package plugin

import (
	"github.com/tzurot-go/tzurot/sdk/abi"
	"github.com/tzurot-go/tzurot/sdk/formdata"
)

// Bounds of a host-built multipart body (docs/plugin-abi.md §8).
const (
	maxMultipartParts = formdata.MaxParts
	maxMultipartBytes = formdata.MaxBytes
)

// buildMultipart builds a plugin's multipart body from the call's blobs
// (package formdata, shared with sdk/plugintest so both are as strict).
func buildMultipart(st *callState, parts []abi.MultipartPart) (*formdata.Body, *abi.Error) {
	return formdata.Build(parts, st.blobs.Get)
}
