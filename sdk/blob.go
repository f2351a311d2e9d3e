//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// The bulk path (docs/plugin-abi.md §10): one host call copies a whole
// range of the plugin's own memory, instead of 8 bytes per call through
// kernel memory. Use it for audio and images.

//go:wasmimport tzurot:host/v1 blob_len
func hostBlobLen(handle int64) int64

//go:wasmimport tzurot:host/v1 blob_read
func hostBlobRead(handle, offset int64, dst unsafe.Pointer, n uint32) int64

//go:wasmimport tzurot:host/v1 blob_create
func hostBlobCreate(src unsafe.Pointer, n uint32) int64

// NewBlob copies b into a host-side blob and returns its handle, valid
// until the call ends. Send it as an HTTP body with HTTPRequest.BodyBlob,
// or return the handle in your output.
func NewBlob(b []byte) (int64, error) {
	if len(b) == 0 {
		// A zero-length range still needs a valid address.
		b = make([]byte, 0, 1)
	}
	h := hostBlobCreate(unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b)))
	runtime.KeepAlive(b)
	if h < 0 {
		return 0, Errorf(abi.ErrDenied, "the host refused a %d-byte blob (over this call's blob budget)", len(b))
	}
	return h, nil
}

// ReadBlob copies a whole blob (e.g. a response body kept host-side with
// HTTPRequest.ResponseBlob) into the plugin's memory.
func ReadBlob(handle int64) ([]byte, error) {
	n := hostBlobLen(handle)
	if n < 0 {
		return nil, Errorf(abi.ErrInternal, "no blob with handle %d in this call", handle)
	}
	buf := make([]byte, n+1) // +1 so the address is valid when n is 0
	var got int64
	for got < n {
		c := hostBlobRead(handle, got, unsafe.Pointer(&buf[got]), uint32(n-got))
		if c <= 0 {
			return nil, Errorf(abi.ErrInternal, "reading blob %d failed after %d of %d bytes", handle, got, n)
		}
		got += c
	}
	runtime.KeepAlive(buf)
	return buf[:n], nil
}
