package abi

// Bulk path for large payloads (audio, images). Extism's input, output and
// kernel-memory pointers move bytes 8 at a time through host calls (about
// 18 ms per MiB each way for a Go guest). These host functions instead copy
// straight between a host-side blob and the guest's OWN linear memory in one
// memcpy. A blob is addressed by an i64 handle (> 0) that is valid for the
// current call only; the host frees every blob when the call ends unless
// the caller supplied the store.
//
// Unlike every other host function, the pointers here are addresses in the
// guest's linear memory (i32), not Extism kernel offsets.
const (
	// HostBlobLen: blob_len(handle i64) -> i64. Length in bytes, or -1 when
	// there is no such blob.
	HostBlobLen = "blob_len"
	// HostBlobRead: blob_read(handle i64, offset i64, dst i32, len i32) -> i64.
	// Copies up to len bytes of the blob, starting at offset, to guest
	// address dst. Returns the number of bytes copied (0 at the end of the
	// blob), or -1 when the handle is unknown or dst..dst+len lies outside
	// the guest's memory.
	HostBlobRead = "blob_read"
	// HostBlobCreate: blob_create(src i32, len i32) -> i64. Copies len bytes
	// at guest address src into a new blob and returns its handle, or -1
	// when the bytes lie outside the guest's memory or the call's blob
	// budget (the plugin's max_response_bytes) would be exceeded.
	HostBlobCreate = "blob_create"
)

// The call's own input and output through the bulk path. Extism moves a
// call's input and output through kernel memory, 8 bytes per host call
// each way (about 16 µs per KiB for a Go guest); these move each in one
// copy. A plugin that uses them still works on the Extism path everywhere
// else (errors, host-function arguments).
const (
	// InputBlob is the blob handle of the call's input: blob_len(InputBlob)
	// is its length and blob_read(InputBlob, offset, dst, len) copies it
	// into guest memory. Hosts older than the bulk input return -1 for it;
	// read the Extism input then.
	InputBlob int64 = 0
	// HostOutputWrite: output_write(src i32, len i32) -> i32. Sets the
	// call's output to the len bytes at guest address src, in one copy,
	// in place of Extism's output_set: once a call used it, its Extism
	// output is ignored, and a later output_write replaces the earlier.
	// Returns 0, or -1 when the range lies outside the guest's memory. An
	// output over the plugin's max_response_bytes fails the call, as with
	// output_set.
	HostOutputWrite = "output_write"
	// BulkInputExport, when exported (any signature; never called), tells
	// the host that the plugin reads its input only through InputBlob, so
	// the host skips copying it into Extism kernel memory. A plugin that
	// also reads Extism's input (input_length, input_load_*) must not
	// export it: that input is empty then.
	BulkInputExport = "tzurot_bulk_input"
)
