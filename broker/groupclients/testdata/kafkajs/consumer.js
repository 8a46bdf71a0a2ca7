// A kafkajs consumer-group member for the broker's group client tests; the
// same contract as ../consumer.py:
//
//   node consumer.js <bootstrap> <group> <topic> <out> <sessionMs>
//
// For every batch it commits the batch's next offset, then appends the
// record values to <out> (one per line, fsynced): <out> is the ledger of
// committed records. <out>.ready is written once partitions are assigned.
// When <out>.pause appears it stops taking batches, writes <out>.paused once
// no batch is in flight, and waits to be SIGKILLed (no LeaveGroup). SIGTERM
// disconnects (leaves the group) and exits 0.
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, group, topic, out, sessionMs] = process.argv.slice(2);
const session = parseInt(sessionMs || '3000', 10);
const kafka = new Kafka({ clientId: 'groupclients-kafkajs', brokers: [bootstrap], logLevel: logLevel.ERROR });
const consumer = kafka.consumer({
  groupId: group,
  sessionTimeout: session,
  heartbeatInterval: Math.max(100, Math.floor(session / 6)),
  rebalanceTimeout: 30000,
  maxWaitTimeInMs: 200,
});
const ledger = fs.openSync(out, 'a');
let paused = false;
let busy = false;

consumer.on(consumer.events.GROUP_JOIN, (e) => {
  const assigned = e.payload.memberAssignment[topic] || [];
  if (assigned.length > 0) fs.writeFileSync(out + '.ready', '1\n');
});

const watcher = setInterval(() => {
  if (!paused && fs.existsSync(out + '.pause')) paused = true;
  if (paused && !busy && !fs.existsSync(out + '.paused')) fs.writeFileSync(out + '.paused', '1\n');
}, 20);

async function main() {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (paused || batch.messages.length === 0) {
        // Paused: take nothing more; the records stay uncommitted.
        if (paused) await new Promise(() => {});
        return;
      }
      busy = true;
      try {
        const last = batch.messages[batch.messages.length - 1].offset;
        const next = (BigInt(last) + 1n).toString();
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
        const values = batch.messages.map((m) => m.value.toString() + '\n').join('');
        fs.writeSync(ledger, values);
        fs.fsyncSync(ledger);
        resolveOffset(last);
        await heartbeat();
      } finally {
        busy = false;
      }
    },
  });
}

process.on('SIGTERM', async () => {
  clearInterval(watcher);
  try {
    await consumer.disconnect();
  } finally {
    process.exit(0);
  }
});

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
