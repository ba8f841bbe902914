// Package source finds the text of the source files that DWARF line tables
// name, so that a trace can print each statement's line beside it. A file
// is looked for where the compiler saw it, then under the user's
// --source-path OLD=NEW rewrites (like gdb's substitute-path), then on the
// debuginfod servers, which serve sources by build-id.
package source
