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
