'use strict';
// Lifecycle events for JavaScript: each subscription is a queue in the core whose descriptor libuv
// watches, so listeners run on the event loop. A listener that throws (or rejects) never breaks
// orchestration nor the other listeners: its error is reported as a process warning, or to the client's
// 'listenerError' listeners when there are some.
const native = require('./native');

// A dotted lifecycle name or pattern ("step.completed", "task.*", "*.failed"), not an ordinary
// EventEmitter event of the client ("error", "listenerError").
const EVENT_NAME = /^(\*|[A-Za-z_][\w-]*)(\.(\*|[\w-]+))+$|^\*$/;

/** One subscription: `close()` ends it; `dropped` counts events lost to a full queue. */
class Subscription {
  constructor(client, pattern, deliver, capacity) {
    this.pattern = pattern;
    this._client = client;
    this._queue = null;
    this._closed = false;
    this.ready = client.connect().then(() => {
      if (this._closed) return this;
      this._queue = new native.NativeEventQueue(client._native, pattern, capacity || 0, (batch) => {
        for (const event of batch) deliver(event);
      });
      return this;
    });
    this.ready.catch(() => {});
  }

  get dropped() { return this._queue ? this._queue.dropped : 0; }

  close() {
    this._closed = true;
    if (this._queue) this._queue.close();
    this._queue = null;
    this._client._subscriptions.delete(this);
  }
}

function report(client, err, event) {
  if (client.listenerCount('listenerError') > 0) client.emit('listenerError', err, event);
  else process.emitWarning(err instanceof Error ? err : new Error(String(err)), { detail: `while handling ${event.name}` });
}

function callSafely(client, fn, event) {
  try {
    const r = fn.call(client, event);
    if (r && typeof r.then === 'function') r.then(null, (err) => report(client, err, event));
  } catch (err) {
    report(client, err, event);
  }
}

/** Adds subscribe() and on('<event.name>') to a client (called by its constructor). */
function attach(client) {
  client._subscriptions = new Set();
  const byName = new Map();  // exact name or pattern given to on() → its Subscription

  client.subscribe = async function subscribe(pattern, fn, options = {}) {
    if (typeof pattern !== 'string' || typeof fn !== 'function') throw new TypeError('subscribe(pattern, listener)');
    const sub = new Subscription(client, pattern, (event) => callSafely(client, fn, event), options.capacity);
    client._subscriptions.add(sub);
    return sub.ready;
  };

  client.on('newListener', (name) => {
    if (typeof name !== 'string' || !EVENT_NAME.test(name) || byName.has(name)) return;
    const sub = new Subscription(client, name, (event) => {
      for (const fn of client.listeners(name)) callSafely(client, fn, event);
    });
    client._subscriptions.add(sub);
    byName.set(name, sub);
  });
  client.on('removeListener', (name) => {
    const sub = byName.get(name);
    if (sub && client.listenerCount(name) === 0) {
      byName.delete(name);
      sub.close();
    }
  });
}

function closeAll(client) {
  for (const sub of [...client._subscriptions]) sub.close();
}

module.exports = { attach, closeAll, Subscription };
