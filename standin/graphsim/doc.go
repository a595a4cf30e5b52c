// Package graphsim is a local Microsoft Graph simulator for the directory recycle bin
// (/directory/deletedItems), built from the specification in graph.md §9.
//
// Why it exists: the purge handler's whole job is to classify Graph's answers (204, the lag 404,
// 403 for missing app roles, 429 with Retry-After, 5xx, …) and act on them. Real Graph cannot be
// reached from tests, and its failure modes cannot be provoked on demand. The simulator answers
// with Graph's status codes, error bodies and headers, authorizes requests from the app roles in
// tokens issued by package identity (the managed-identity stand-in), and lets a test script faults,
// replication lag, hard-delete protection and throttling per object, then inspect the request log.
//
// # Routes (prefix /v1.0 or /beta; segment names are case-insensitive)
//
//	GET    /directory/deletedItems/{id}                       200 directoryObjects/$entity
//	DELETE /directory/deletedItems/{id}                       204 (purge)
//	GET    /directory/deletedItems/microsoft.graph.{type}     200 list ($top, $skiptoken, $count,
//	                                                          $orderby, $select, $search, $filter)
//	GET    /directory/deletedItems                            400 Request_UnsupportedQuery
//	POST   /directory/deletedItems/{id}/restore               200 (object active again)
//	DELETE /users|groups|applications|servicePrincipals/{id}  204 soft delete (test helper)
//	GET    /users|groups|applications|servicePrincipals/{id}  200 for an active object
//
// # Order of checks
//
// Route (400 BadRequest "Resource not found for the segment …", 405 for a wrong method) → bearer
// token (401 InvalidAuthenticationToken) → object id syntax (400 Request_BadRequest "Invalid
// object identifier '…'.") → scripted faults → throttling (429) → lookup (404
// Request_ResourceNotFound for unknown, active, purged, aged-out, or still-replicating objects) →
// permission (403 Authorization_RequestDenied) → type and protection rules → success.
//
// # Tokens
//
// A token is accepted when identity.ParseToken verifies it with Options.SigningKey, it is within
// its lifetime (no clock skew allowed), and its aud is Options.Audience (default
// https://graph.microsoft.com), Graph's app id, or the scheme://host the request was sent to. All
// tokens are treated as app-only: that is what a managed identity gets.
//
// # Choices where graph.md says [?] or [I]
//
//   - Purging an administrativeUnit: 400 Request_BadRequest "Administrative units cannot be
//     permanently deleted by using the deletedItems API." (Options.AdministrativeUnitStatus = 403
//     gives Authorization_RequestDenied instead).
//   - Hard-delete protection: Options.ProtectionStatus (default 400) with Options.ProtectionCode
//     (default Request_BadRequest) and the message "Hard deletion protection is enabled for object
//     '{id}'. It cannot be permanently deleted until {deletedDateTime+7d, RFC 3339}." Users synced
//     from on-premises are exempt, as the beta page says.
//   - Group purge is 403 whatever the roles; the check follows the 404 lookup.
//   - User.DeleteRestore.All allows GET and LIST of deleted users. Application.ReadWrite.OwnedBy
//     allows GET of owned applications and service principals only; in a LIST, objects it does not
//     own come back with only @odata.type and id (the documented "limited information" form).
//   - Ownership under OwnedBy is evaluated on the deleted object (Object.Owners).
//   - An active object id, a purged one and an aged-out one all answer 404, like an unknown id.
//   - LIST without ConsistencyLevel: eventual but with $count=true, $search or
//     $orderby=deletedDateTime: 400 Request_UnsupportedQuery. $expand is refused the same way.
//   - Beta-only types (device, externalUserProfile, pendingExternalUserProfile) are invisible
//     under /v1.0.
//   - Throttled requests are not charged, so a client that waits Retry-After is admitted. Costs:
//     GET and LIST 1 resource unit; purge, restore and soft delete 1 RU + 1 write.
//   - Replication lag starts when the object enters the bin in the simulator (Add or soft delete),
//     not at deletedDateTime, so an object added "deleted 10 days ago" with Lag still lags.
package graphsim
