// Package bidcache keeps what is costly to derive from a file with a
// build-id (decompressed DWARF sections, indexes) in files under the user's
// cache directory, one per build-id and kind, so that the next run reads
// it back instead of deriving it again.
//
// An entry is written to a temporary file and renamed into place, so
// readers never see half of one. It carries a format version, the
// identity of the file it was derived from (the caller's choice of bytes:
// sizes and section headers, say) and a CRC-32C of its whole content: an
// entry that is truncated, corrupt, of another version or derived from a
// different file with the same build-id is a miss, which the caller
// answers by deriving the data again and putting it back. The cache is
// never trusted over the file it stands for.
//
// The directory is $WHYTHEFAIL_CACHE_DIR, else $XDG_CACHE_HOME/whythefail,
// else ~/.cache/whythefail. WHYTHEFAIL_CACHE=off disables the cache.
package bidcache
