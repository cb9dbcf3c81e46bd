// Package notify delivers what the service queues in its outbox: mail over SMTP
// (STARTTLS when the server offers it) and webhook calls over HTTP, refusing local
// destinations at dial time unless they are allowed. It holds no state beyond its
// configuration; retries and bookkeeping belong to the service's outbox.
package notify
