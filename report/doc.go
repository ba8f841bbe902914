// Package report formats committed traces and statistics as whythefail.stp
// prints them, or as JSON.
package report
