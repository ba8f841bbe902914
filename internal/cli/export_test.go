package cli

import (
	"fmt"
	"os"
)

// The traced fixtures' own output is not what these tests look at (each
// test redirects what it needs in its -c command line); keep it out of the
// test log.
func init() {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		panic(fmt.Sprintf("opening %s: %v", os.DevNull, err))
	}
	commandStdout = f
}
