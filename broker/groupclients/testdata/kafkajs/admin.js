// Prints, as JSON, what the kafkajs admin client sees of one consumer group
// (same shape as ../admin.py):
//
//   node admin.js <bootstrap> <group> <topic>
//
// {"groups": [...], "state": str, "members": int, "lag": int,
//  "committed": {"topic/partition": offset}}
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, group, topic] = process.argv.slice(2);

async function main() {
  const kafka = new Kafka({ clientId: 'groupclients-kafkajs-admin', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const listed = await admin.listGroups();
  const described = await admin.describeGroups([group]);
  const g = described.groups.find((x) => x.groupId === group);
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  const high = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
  const committed = {};
  let lag = 0n;
  for (const t of offsets) {
    for (const p of t.partitions) {
      if (BigInt(p.offset) < 0n) continue;
      committed[`${t.topic}/${p.partition}`] = Number(p.offset);
      lag += high.get(p.partition) - BigInt(p.offset);
    }
  }
  await admin.disconnect();
  console.log(JSON.stringify({
    groups: listed.groups.map((x) => x.groupId).sort(),
    state: g ? g.state : '',
    members: g ? g.members.length : 0,
    lag: Number(lag),
    committed,
  }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
