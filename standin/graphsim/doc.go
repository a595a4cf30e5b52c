// Package graphsim is a local Microsoft Graph simulator for the directory recycle bin
// (/directory/deletedItems), built from the specification in docs/graph.md §9.
//
// Why it exists: the purge handler's whole job is to classify Graph's answers (204, the lag 404,
// 403 for missing app roles, 429 with Retry-After, 5xx, …) and act on them. Real Graph cannot be
// reached from tests, and its failure modes cannot be provoked on demand. The simulator answers
// with Graph's status codes, error bodies and headers, authorizes requests from the app roles in
// tokens issued by package identity (the managed-identity stand-in), and lets a test script faults,
// replication lag, hard-delete protection and throttling per object (or for every object: AnyObject),
// then inspect the request log.
//
// # Routes (prefix /v1.0; segment names are case-insensitive)
//
//	GET    /directory/deletedItems/{id}                       200 directoryObjects/$entity
//	DELETE /directory/deletedItems/{id}                       204 (purge)
//	GET    /directory/deletedItems/microsoft.graph.{type}     200 list ($top, @odata.nextLink,
//	                                                          $count with ConsistencyLevel)
//	GET    /directory/deletedItems                            400 Request_UnsupportedQuery
//
// Other OData options ($select, $filter, $search, $orderby, $expand) are refused with 400
// Request_UnsupportedQuery rather than ignored.
//
// # Order of checks
//
// Route (400 BadRequest "Resource not found for the segment …", 405 for a wrong method) → bearer
// token (401 InvalidAuthenticationToken) → object id syntax (400 Request_BadRequest "Invalid
// object identifier '…'.") → scripted faults → throttling of purges (429) → lookup (404
// Request_ResourceNotFound for unknown, active, purged or still-replicating objects) → permission
// (403 Authorization_RequestDenied) → hard-delete protection → success.
//
// # Tokens
//
// A token is accepted when identity.ParseToken verifies it with identity.DevSigningKey, it is
// within its lifetime (no clock skew allowed), and its aud is the scheme://host the request was
// sent to (the handler asks for "<PURGE_GRAPH_ENDPOINT>/.default"). All tokens are treated as
// app-only: that is what a managed identity gets.
//
// # Choices where docs/graph.md says [?] or [I] (§9, §10)
//
//   - Purging a group or an administrativeUnit: 403 Authorization_RequestDenied whatever the
//     roles (groups cannot be purged app-only; administrative units not through this API); the
//     check follows the 404 lookup.
//   - Hard-delete protection: 400 Request_BadRequest "Hard deletion protection is enabled for
//     object '{id}'. It cannot be permanently deleted until {deletedDateTime+7d, RFC 3339}."
//   - User.DeleteRestore.All allows GET and LIST of deleted users. Application.ReadWrite.OwnedBy is
//     not modelled (ownership is not) and grants nothing.
//   - An active object id and a purged one both answer 404, like an unknown id. Objects do not age
//     out of the bin.
//   - LIST with $count=true but without ConsistencyLevel: eventual: 400 Request_UnsupportedQuery.
//   - Throttled requests are not charged, so a client that waits Retry-After is admitted. Only
//     purges are throttled (the per-app write limit); reads are not.
//   - x-ms-throttle-limit-percentage (graph.md §4.2) is sent on purges once more than 0.8 of the
//     write limit is used: on an admitted purge, the used fraction of the caller's bucket after the
//     charge (0.81 to 1.00); on a throttled one, 1 + the share of the caller's recent purges that
//     were refused (decaying over one write window), at most 1.80, since Graph documents 1.2 as
//     "20 % of requests are throttled". Two decimals. Reads carry none: the resource-unit limit is
//     not modelled.
package graphsim
