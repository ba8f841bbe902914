// Package tracer is the whole whythefail job: it resolves the traced
// function and its statements (probe package), turns each statement's
// variables into locations for the BPF generator, starts the session on the
// right set of processes (-c, -x or all), and writes the committed traces
// and the statistics with the report package.
package tracer
