// Package jsonfast reads and writes the plain JSON of hot request and
// response shapes without reflection. The reader takes only the plain
// form (known fields, ASCII keys, strings without escapes, integers) and
// gives up on anything else, so that its caller can hand the input to
// encoding/json, which then answers with its own results and errors. The
// writer writes what encoding/json writes with HTML escaping off. Its
// users check both against encoding/json with differential fuzz targets.
package jsonfast
