// Package api is the wire format of tagseg's HTTP API (package
// github.com/tagseg/tagseg/server): the JSON bodies it reads and writes,
// for the server and for Go programs that call it.
//
// Customers travel as ChartMogul's customer object (Customer, written by
// CustomerOf) and are created from ChartMogul's new-customer body
// (NewCustomer); a segment's figures, series and tag ranking travel as
// Metrics, Series and TagStats. Errors are ChartMogul's three dialects:
// Error ({"code", "message", "param"}) for bad requests, {"error": "...
// not found"} for a missing customer or segment, and 422 {"errors":
// {field: message}} for a bad value (a *FieldError).
//
// The parsers (ParseTime, ParseCents, DecodeJSON, CheckTag) are the ones
// the server reads requests with, so that a client, or the tagseg command
// reading files, accepts and refuses what the server does.
package api
