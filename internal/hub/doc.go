// Package hub fans messages out to many slow, unreliable consumers (browsers, shelf signs) over
// websockets without letting any of them hold up the publisher or each other.
//
// A Hub has clients; each client subscribes to topics of the caller's choosing (the dashboard:
// a store id, or "" for the chain view; a shelf sign: one topic per store and SKU it shows).
// Publish delivers a Message to every client subscribed to at least one of its topics, once,
// by appending it to that client's bounded queue. Publish never blocks on a client: it only
// takes the client's queue lock, which is never held across I/O.
//
// Every client receives what it is sent in the order it was published: Publish calls are
// serialised, so all clients see one order. A client drains its queue with Client.Next, or
// with Client.Serve, which writes the queue to a *websocket.Conn (github.com/coder/websocket).
//
// # Full queues
//
// A client's queue holds at most its QueueSize messages [256]. What happens to a message that
// finds the queue full is the client's Policy (set per hub, overridable per client):
//
//   - Disconnect (the default): the client is disconnected. Its queue is discarded, Next and
//     Serve return ErrSlow, and Serve closes the websocket with status 1013 (try again later)
//     so the peer reconnects and starts again from a fresh snapshot. For streams where every
//     message matters (a ticker of sales).
//   - Coalesce: a message with a Key replaces the queued message with the same Key (at any
//     time, not only when the queue is full: the client never sees a value that is already
//     stale); the replacement goes to the back of the queue, so what a client receives stays
//     in publish order. When the queue is full and nothing can be replaced (no Key, or a Key
//     not queued), the client is disconnected as with Disconnect: a state-like stream (the
//     latest price of each SKU) cannot skip a value, but a reconnect and a snapshot repair it.
//     Size the queue to the number of keys a client can have queued and that never happens.
//   - Drop: the new message is dropped and the client stays connected with its queue. For
//     best-effort streams where a gap is harmless.
//
// # Pulled clients
//
// A client subscribed with ClientConfig.Pulled has no queue: Publish to its topics, or Wake,
// only wakes it, and its writer calls ServeOptions.Pull until Pull has nothing more, writing
// each frame. Pull makes the frame from state the caller keeps (a shelf sign: every SKU it
// shows that changed since its last frame), so a client that fell behind catches up in one
// frame and costs no memory per message. Its writer runs only while there is something to
// write (Hub.Writing counts those running), on the hub's pool of writer goroutines: a few
// (2×GOMAXPROCS) that take woken clients in order and stay while there is work, so a fan-out
// to thousands of clients does not start (and grow the stack of) a goroutine each, and one
// more starts whenever the queue has not moved for 5 ms (every worker blocked writing to a
// stalled peer), so a stalled client does not hold up the others. An idle Pulled client
// served with Client.Go costs one goroutine, its reader.
//
// # Websockets
//
// Client.Serve runs one client over one websocket until the context ends, the peer goes away
// or the client is disconnected (Client.Go does the same in the background, so an HTTP handler
// can return after the upgrade): a writer writes the ServeOptions.First frames (a
// snapshot taken after Subscribe, so no message published in between is missed) and then the
// queue, each write bounded by WriteTimeout [10s]; a timer (no goroutine while idle) pings a
// peer silent for PingInterval [20s] (a message from it counts as a pong, so signs that
// acknowledge are not pinged; the first ping is jittered, so websockets opened together are not
// pinged together) and closes a peer that does not answer within PingTimeout [10s]; a reader
// goroutine reads the peer's messages and hands them to OnMessage (acknowledgements), or drops
// them. When the context ends the websocket is closed cleanly (status 1001, going away).
//
// # Metrics
//
// With Config.Registerer set (never the default registry unless passed explicitly), a hub
// registers, each with the constant label hub=Config.Name:
//
//	freshmart_hub_clients                  gauge      clients subscribed
//	freshmart_hub_messages_published_total counter    Publish calls
//	freshmart_hub_messages_dropped_total   counter    messages a subscribed client never got
//	                                                  (dropped by Drop, or discarded with a
//	                                                  client disconnected for being slow)
//	freshmart_hub_messages_coalesced_total counter    queued messages replaced by a newer one
//	freshmart_hub_slow_disconnects_total   counter    clients disconnected for being slow
//	freshmart_hub_queue_depth              histogram  a client's queue length after each enqueue
//
// Several hubs can share a registry as long as their names differ.
package hub
