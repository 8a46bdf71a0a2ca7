// Package auth is the broker's security layer: users with salted SCRAM
// credentials, the SASL mechanisms that check them (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), access control lists and the authorizer that applies them.
// It knows nothing of the wire protocol; internal/server maps requests to
// the resources and operations asked here.
//
// # Files
//
// Both files live in the broker's data directory and are JSON, replaced
// crash-safely (write a temp file, fsync, rename, fsync the directory;
// storage.WriteFileAtomic), so a crash leaves the old or the new file,
// never a torn one. Every change is a read-modify-write under an exclusive
// flock(2) on auth.lock in the same directory, so the broker (serving
// AlterUserScramCredentials, CreateAcls, DeleteAcls) and the offline
// `freshmart-broker users` command can change them at the same time
// without losing each other's writes. The broker notices changes made by
// another process: before using its copy it compares the file's size and
// modification time (one stat) and reloads it when they differ.
//
// users.json:
//
//	{"version": 1, "users": {"alice": {
//	    "SCRAM-SHA-256": {"salt": "<base64>", "iterations": 4096,
//	                      "stored_key": "<base64>", "server_key": "<base64>"},
//	    "SCRAM-SHA-512": {...}}}}
//
// Only SCRAM's StoredKey and ServerKey (RFC 5802 section 3) are kept, never
// a password. PLAIN is checked against the same credential: the password
// sent is salted with the stored salt and iterations, and its StoredKey
// compared in constant time. `users add` writes both mechanisms;
// AlterUserScramCredentials writes the one it names (the client salts the
// password itself, as with Kafka).
//
// acls.json:
//
//	{"version": 1, "acls": [{"resource_type": "TOPIC", "resource_name": "pos-sales",
//	    "pattern_type": "LITERAL", "principal": "User:alice", "host": "*",
//	    "operation": "READ", "permission": "ALLOW"}]}
//
// # Authorizer semantics (Kafka's AclAuthorizer)
//
// A request by principal P from host H for operation O on resource R is
// allowed when P is a super user; otherwise the ACLs that match R (literal
// name equal, or "*", or a prefixed pattern that R's name starts with), P
// (equal, or "User:*") and H (equal, or "*") are collected: any DENY for O
// (or ALL) refuses, whatever the ALLOWs say (deny wins); an ALLOW for O, or
// for ALL, or for an operation that implies O (READ, WRITE, DELETE and
// ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS), allows.
// When no ACL at all matches R, the request is allowed if
// AllowEveryoneIfNoACL is set (the broker's default, so a broker without
// ACLs behaves as before) and refused otherwise.
package auth
