package ir

// Display says how to print one VARIABLE expression at a statement: a tree
// whose reading nodes consume, depth first, the values read for its leaves.
type Display struct {
	Name string
	// Format says how to print the value: "int", "uint", "ptr" (hex),
	// "dec", "udec" (decimal), "string" (quoted), "struct" ({...}),
	// "array" ([...]), "other" (?), "const" (Const is printed), or "group"
	// (Children printed as {.name=value, ...}). The formats that print a
	// read value each consume the next value of the record, depth first.
	Format   string
	Size     int // bytes of an integer, for sign extension
	Max      int // for a string read from a char array: the array's length
	Const    string
	Children []Display
}

// Reads reports whether the format consumes a value.
func (v Display) Reads() bool {
	switch v.Format {
	case "int", "uint", "ptr", "dec", "udec", "string":
		return true
	}
	return false
}

// Leaves counts the values a Display consumes.
func (v Display) Leaves() int {
	if v.Format == "group" {
		n := 0
		for _, c := range v.Children {
			n += c.Leaves()
		}
		return n
	}
	if v.Reads() {
		return 1
	}
	return 0
}
