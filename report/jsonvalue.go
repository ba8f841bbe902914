package report

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// jsonValue is v's value for --json, consuming values from vals as format
// does: integers and pointers as JSON numbers (signed formats
// sign-extended, so -22 is -22, not 0xffffffffffffffea), strings as JSON
// strings (a string whose characters could not be read is its pointer, 0
// for NULL), a pretty-printed struct as an object of its members in
// declaration order, and null where the text prints ? (the value could not
// be read). Aggregates printed without reading keep their text, "{...}"
// and "[...]". truncated reports a string cut short (the text's "...").
// A string's bytes that are not UTF-8 become U+FFFD, as encoding/json
// writes them; the text output escapes them instead.
func jsonValue(v Var, vals *[]Value) (value any, truncated bool) {
	if v.Format == "group" {
		obj := make(jsonObject, 0, len(v.Children))
		for _, c := range v.Children {
			cv, ct := jsonValue(c, vals)
			truncated = truncated || ct
			obj = append(obj, jsonMember{c.Name, cv})
		}
		return obj, truncated
	}
	var val Value
	if v.Reads() && len(*vals) > 0 {
		val = (*vals)[0]
		*vals = (*vals)[1:]
	}
	switch v.Format {
	case "const":
		if n, err := strconv.ParseInt(v.Const, 0, 64); err == nil {
			return n, false
		}
		if n, err := strconv.ParseUint(v.Const, 0, 64); err == nil {
			return n, false
		}
		return v.Const, false
	case "struct", "array":
		return FormatValue(v, val), false
	}
	if !val.OK {
		return nil, false
	}
	switch v.Format {
	case "int", "dec":
		return signExtend(val.U64, v.Size), false
	case "uint", "ptr", "udec":
		return truncate(val.U64, v.Size), false
	case "string":
		if val.Unreadable {
			// The text prints NULL or the pointer: here its number.
			return val.U64, false
		}
		b, cut := val.Bytes, val.Truncated
		if v.Max > 0 && len(b) > v.Max {
			b, cut = b[:v.Max], true
		}
		return string(b), cut
	}
	return nil, false
}

// jsonMember is one member of a pretty-printed struct.
type jsonMember struct {
	Name  string
	Value any
}

// jsonObject is a struct's members as a JSON object, in declaration order
// (a Go map would sort them).
type jsonObject []jsonMember

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
