// Package cli is whythefail's command line: argument parsing, the listing
// mode (-L/-l) and the tracing mode, with one-line errors and exit status 1
// on bad input. cmd/whythefail is a thin wrapper so tests run it in-process.
package cli
