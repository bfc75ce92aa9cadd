// Package server is tagseg's HTTP API as an http.Handler that a host
// service mounts: ChartMogul's customer and tag endpoints (same paths,
// JSON shapes, status codes and error bodies, for what the index keeps),
// tagseg's segment endpoints under /v1/segments, Prometheus metrics at
// /metrics, and the segment explorer page at / (its files under /ui/).
// `tagseg serve` is this handler behind a listener.
//
//	ix, err := tagseg.Open("customers.db", nil)
//	...
//	h := server.New(ix, server.Options{APIKey: key})
//	mux.Handle("/tagseg/", http.StripPrefix("/tagseg", h))
//
// # Routes
//
//	GET    /v1/ping                               {"data": "pong!"}, never capped
//	GET    /metrics                               Prometheus' text format
//	POST   /v1/customers                          create (ChartMogul's body; 201)
//	GET    /v1/customers                          list, cursor-paginated (data_source_uuid, external_id, status)
//	GET    /v1/customers/search?email=E           by email, any case
//	GET    /v1/customers/{uuid}                   retrieve
//	DELETE /v1/customers/{uuid}                   delete (204)
//	GET    /v1/customers/{uuid}/attributes        tags and custom attributes
//	POST   /v1/customers/{uuid}/attributes/tags   add tags
//	DELETE /v1/customers/{uuid}/attributes/tags   remove tags
//	POST   /v1/customers/attributes/tags          add tags to every customer with an email
//	POST   /v1/customers/{uuid}/mrr               record MRR from a date (default: now) on
//	GET    /v1/customers/{uuid}/mrr               MRR history
//	GET    /v1/tags?prefix=P&limit=N              tag completion, most held first
//	GET    /v1/segments/metrics                   count, paying, MRR, ARR, ARPA
//	GET    /v1/segments/series                    MRR and movements per interval
//	GET    /v1/segments/tags                      tag ranking by MRR or count
//	POST   /v1/segments/tags                      add tags to a segment (capped, confirmed, dry run)
//	DELETE /v1/segments/tags                      remove tags from a segment
//	GET    /v1/segments/customers                 a segment's customers, cursor-paginated
//	GET    /v1/segments/saved                     saved segments
//	GET    /v1/segments/saved/{name}              one
//	PUT    /v1/segments/saved/{name}              save (the query must evaluate)
//	DELETE /v1/segments/saved/{name}              delete (204)
//
// A segment is "query" (the query language, tagseg.Parse) or "segment" (a
// saved segment's name) as a query parameter or in a JSON body; neither is
// every customer. Each read is answered from one snapshot of the index
// (tagseg.Index.View): a saved segment's query, its evaluation and what
// the answer reads agree. The bodies are the types of package
// github.com/tagseg/tagseg/server/api.
//
// # What every request goes through
//
// With Options.APIKey, every request but the page's static files must
// carry the key as the user name of HTTP Basic auth (ChartMogul's scheme);
// else 401. At most Options.MaxInFlight requests are served at once; one
// more is answered 503 with Retry-After at once. A browser's POST, PUT or
// DELETE from another origin than the page's (or an
// Options.TrustedOrigins one) is refused, 403 (http.CrossOriginProtection).
// A closed index, or one whose last commit failed, answers 503 with
// ChartMogul's error body: clients retry. Tag stats and series stop when
// their client goes away.
package server
