package cli

import (
	"errors"
	"io"
)

func trace(stdout, stderr io.Writer, a *Args) error {
	if len(a.Positional) == 0 {
		return usagef("nothing to do: give TARGET FUNCTION CONDITION, or -L SPEC")
	}
	return errors.New("tracing is not implemented yet")
}
