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
//	GET    /v1/ping                               {"data": "pong!"}, never capped; checks the key, as ChartMogul's does
//	GET    /healthz                               {"status": "ok"} for load balancers: no key, never capped; 503 when the index fails
//	GET    /metrics                               Prometheus' text format
//	POST   /v1/customers                          create (ChartMogul's body; 201)
//	GET    /v1/customers                          list, cursor-paginated (data_source_uuid, external_id, status)
//	GET    /v1/customers/search?email=E           by email, any case
//	GET    /v1/customers/{uuid}                   retrieve
//	PATCH  /v1/customers/{uuid}                   update: the fields given (null clears), tags, custom
//	DELETE /v1/customers/{uuid}                   delete (204)
//	GET    /v1/customers/{uuid}/attributes        tags and custom attributes
//	POST   /v1/customers/{uuid}/attributes/tags   add tags
//	DELETE /v1/customers/{uuid}/attributes/tags   remove tags
//	POST   /v1/customers/attributes/tags          add tags to every customer with an email
//	POST   /v1/customers/{uuid}/attributes/custom add custom attributes ({"custom": [{type, key, value}]})
//	PUT    /v1/customers/{uuid}/attributes/custom update existing ones ({"custom": {key: value}})
//	DELETE /v1/customers/{uuid}/attributes/custom remove ({"custom": [key]}; 200 with those left)
//	POST   /v1/customers/attributes/custom        add custom attributes to every customer with an email
//	POST   /v1/customers/{uuid}/mrr               record MRR from a date (default: now) on
//	GET    /v1/customers/{uuid}/mrr               MRR history
//	GET    /v1/tags?prefix=P&limit=N              tag completion, most held first
//	GET    /v1/metrics/{all|mrr|arr|arpa|asp|customer-count|customer-churn-rate|mrr-churn-rate|ltv}
//	                                              ChartMogul's metrics API (start-date, end-date, interval, geo,
//	                                              filters in CFL, and tagseg's query or segment)
//	GET    /v1/segments/metrics                   count, paying, MRR, ARR, ARPA
//	GET    /v1/segments/series                    MRR, movements, customers gained and lost, rates per interval
//	GET    /v1/segments/tags                      tag ranking by MRR or count
//	POST   /v1/segments/tags                      add tags to a segment (capped, confirmed, dry run)
//	DELETE /v1/segments/tags                      remove tags from a segment
//	GET    /v1/segments/customers                 a segment's customers, cursor-paginated; sort=mrr or -mrr: by MRR
//	GET    /v1/segments/export?format=F&also=P    a segment in import's shape (csv, jsonl), its MRR histories
//	                                              (events), its dense IDs (roaring) and their mapping (ids);
//	                                              several parts of one snapshot as multipart/mixed
//	GET    /v1/backup                             a consistent copy of the index file, streamed
//	GET    /v1/info                               what the index holds: customers, tags, assignments, file, last commit
//	PATCH  /v1/tags/{tag}                         rename a tag ({"name": NEW}; onto a held tag: 409 unless "merge": true)
//	DELETE /v1/tags                               remove tags ({"tags": [...]}) from every customer holding them
//	PUT    /v1/tags/{tag}/members                 the tag on exactly the customers a Roaring bitmap of dense IDs
//	                                              (application/octet-stream) or external IDs (text/plain) names
//	POST   /v1/import/customers                   a batch of "tagseg import" rows, one transaction (dry_run=true)
//	POST   /v1/import/events                      a batch of MRR changes, one transaction
//	GET    /v1/segments/saved                     saved segments
//	GET    /v1/segments/saved/{name}              one
//	PUT    /v1/segments/saved/{name}              save (the query must evaluate)
//	DELETE /v1/segments/saved/{name}              delete (204)
//	GET    /v1/segments/saved/{name}/changes      who entered and left it, commit by commit (after, limit, wait)
//
// In tagseg's own bodies "customers" is always the members of the segment
// and "paying" those with MRR above 0; ChartMogul's metrics API keeps
// ChartMogul's meaning, where "customers" are the paying ones.
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
// Without Options.APIKey, only requests for a loopback Host (localhost,
// 127.0.0.0/8, [::1]) or a trusted origin's host are answered, others 403
// (DNS rebinding; Options.AllowAnyHost turns it off). With an APIKey,
// every request but the page's static files must carry the key as the
// user name of HTTP Basic auth (ChartMogul's scheme); else 401. At most Options.MaxInFlight requests are served at once; one
// more is answered 503 with Retry-After at once. A browser's POST, PUT or
// DELETE from another origin than the page's (or an
// Options.TrustedOrigins one) is refused, 403 (http.CrossOriginProtection).
// A closed index, or one whose commit failed (tagseg.Index.Err), answers
// 503 with ChartMogul's error body on every route but /metrics (whose
// tagseg_index_up is then 0): clients retry. Tag rankings and series run
// at most Options.MaxHeavy at once (half the cores by default), so that
// they never take every core from the cheap reads; they stop when their
// client goes away.
//
// # Writes: commands and the executor
//
// Every write the API performs goes through one place. Its handler reads
// and checks the request, decides everything that is not a function of
// the index (a new customer's UUID with tagseg.NewUUID, the time of an
// MRR change sent without a date, the caps of a bulk change), and builds a
// Command: an operation and its arguments, a plain value that encodes to
// JSON and back unchanged (a new customer's custom attributes stay raw
// JSON, so they keep their types). Command.Apply performs it in a
// *tagseg.Tx reading nothing but the transaction: the same command applied
// to the same index state gives the same result and the same index. The
// handler hands the command to Options.Executor and answers from its
// Result or error.
//
// The default executor, Batched(ix), commits the commands of concurrent
// requests together (group commit: one file sync for many writes), each
// with the result it would have had alone; Local(ix) runs each command in
// its own durable ix.Update. A host that replicates the index (Raft, as rqlite does with
// SQLite) supplies its own: it appends the encoded command to its log and,
// on every node, applies the committed entry with Command.Apply inside
// the Update that also records the log position, then returns the
// leader's result to the handler; an error wrapping ErrUnavailable (no
// leader for now) is answered 503 with Retry-After. Reads do not go
// through the executor: they read the local index. tagseg serve
// -raft-addr is such a host (cmd/tagseg/cluster).
//
// The operations are the Op constants: creating and deleting customers,
// adding and removing tags by UUID, adding tags by email, recording MRR,
// bulk tag changes of a segment (the segment is evaluated, counted against
// the caps and changed when the command is applied, so every node changes
// the same customers), saving and deleting saved segments, updating a
// customer (the patch is applied to the customer as the transaction has
// it) and changing its custom attributes. A new
// write endpoint adds an operation here, never a write of its own.
package server
