// Package debuginfod fetches debug files, executables and source files by
// build-id from debuginfod servers, the way elfutils' client does: the same
// environment variables (DEBUGINFOD_URLS, DEBUGINFOD_CACHE_PATH,
// DEBUGINFOD_TIMEOUT, DEBUGINFOD_MAXSIZE) and the same on-disk cache, so that
// whythefail, gdb, stap and debuginfod-find share what each downloaded and
// what each learned is missing.
//
// The cache layout, checked against Debian's elfutils 0.188 debuginfod-find:
//
//	<cache>/<buildid>/debuginfo
//	<cache>/<buildid>/executable
//	<cache>/<buildid>/source##usr##src##foo.c   ("/" → "##", "#" → "#_")
//	<cache>/cache_miss_s                         (seconds a miss is trusted, "600")
//
// A lookup that every server answered with 404 leaves an empty file at the
// target's name: a cached miss, not asked again until it is cache_miss_s old.
package debuginfod
