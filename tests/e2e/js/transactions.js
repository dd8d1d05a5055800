// kafkajs transactions against a running Floe: one committed transaction (with a group
// offset sent in it), one aborted, then a read_committed consumer (kafkajs's default)
// reads the topic. Prints JSON for test_transactions.py. Usage: node transactions.js
// HOST:PORT TOPIC
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [bootstrap, topic] = process.argv.slice(2);
  const kafka = new Kafka({ clientId: 'floe-e2e-kafkajs-txn', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });

  const producer = kafka.producer({ transactionalId: `${topic}-app`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const yes = await producer.transaction();
  await yes.send({ topic, messages: [0, 1, 2, 3, 4].map((i) => ({ value: `yes-${i}` })) });
  await yes.sendOffsets({ consumerGroupId: `${topic}-upstream`, topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] });
  await yes.commit();
  const no = await producer.transaction();
  await no.send({ topic, messages: [0, 1, 2].map((i) => ({ value: `no-${i}` })) });
  await no.abort();
  await producer.disconnect();

  const offsets = await admin.fetchOffsets({ groupId: `${topic}-upstream`, topics: [topic] });
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-readers`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const committed = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${committed.length} records`)), 60000);
    consumer.run({
      eachMessage: async ({ message }) => {
        committed.push(message.value.toString());
        if (committed.length === 5) {
          clearTimeout(timer);
          // anything aborted would arrive right behind: give it the chance
          setTimeout(resolve, 2000);
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  process.stdout.write(JSON.stringify({ committed, offsets }));
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
