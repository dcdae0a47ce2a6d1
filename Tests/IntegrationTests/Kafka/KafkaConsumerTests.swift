import HSNNKafka
import InMemoryLogging
import Logging
import Synchronization
import HSNNSupport
import Testing
import HSNNTestSupport

@Suite("KafkaConsumer against the mock cluster")
struct KafkaConsumerTests {
    @Test("every message of a 4-partition topic is consumed exactly once, and committed")
    func consumesEverythingOnce() async throws {
        let test = try TestCluster()
        let count = 2000
        try test.produce(0..<count)
        let member = Member(commitEvery: 150)
        let committed = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("once")),
                rebalanceHandler: member, logger: testLogger("consumer"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= count }
            // Nothing more arrives.
            try consumer.pollUntil(member, timeout: .milliseconds(500)) { false }
            try member.commitAll(consumer: consumer)
            let committed = try consumer.committedOffsets(for: test.allPartitions, timeout: .seconds(5))
            try consumer.close()
            return committed
        }
        let processed = member.processed
        #expect(processed.count == count)
        #expect(Set(processed) == expectedPositions(0..<count, partitions: 4))
        // Committed offsets are the next offset to read: one past the last message.
        #expect(committed == Dictionary(uniqueKeysWithValues: test.allPartitions.map { ($0, Int64(count / 4)) }))
        // Values arrive intact and in partition order.
        let values = member.state.withLock { $0.values }
        #expect(values[Position(partition: 1, offset: 0)] == Array("v1".utf8))
        #expect(values[Position(partition: 3, offset: 499)] == Array("v1999".utf8))
        for partition in 0..<Int32(4) {
            let offsets = processed.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == offsets.sorted())
        }
    }

    @Test("a restarted member of the group resumes exactly where the previous one committed")
    func restartResumesFromCommittedOffsets() async throws {
        let test = try TestCluster()
        let count = 1200
        try test.produce(0..<count)
        let group = uniqueGroup("restart")
        // The first member commits only when its partitions are revoked (at close).
        let first = Member(commitEvery: .max)
        let second = Member(commitEvery: 100)
        let committedAfterFirst = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: group), rebalanceHandler: first,
                logger: testLogger("first"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(first, timeout: .seconds(20)) { first.processed.count >= 500 }
            try consumer.close()
            #expect(throws: KafkaError.self) { try consumer.poll(timeout: .zero) }

            let restarted = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: group), rebalanceHandler: second,
                logger: testLogger("second"))
            let committed = try restarted.committedOffsets(for: test.allPartitions, timeout: .seconds(5))
            try restarted.subscribe(topics: [test.topic])
            try restarted.pollUntil(second, timeout: .seconds(20)) {
                first.processed.count + second.processed.count >= count
            }
            try restarted.pollUntil(second, timeout: .milliseconds(500)) { false }
            try restarted.close()
            return committed
        }
        let a = first.processed
        let b = second.processed
        #expect(a.count >= 500 && a.count < count)
        #expect(Set(a).isDisjoint(with: b))
        #expect(Set(a).union(b) == expectedPositions(0..<count, partitions: 4))
        #expect(a.count + b.count == count)
        // The commit at close covered exactly what the first member processed.
        for partition in test.allPartitions {
            let processed = a.filter { $0.partition == partition.partition }.map(\.offset)
            #expect(committedAfterFirst[partition] == processed.max().map { $0 + 1 })
        }
        #expect(first.state.withLock { $0.revokedEvents.count } == 1)
    }

    @Test(
        "two members split the partitions after a rebalance; nothing is lost or read twice",
        arguments: ["range", "cooperative-sticky"])
    func twoMembersSplitPartitions(strategy: String) async throws {
        let test = try TestCluster()
        try test.produce(0..<2000)
        let cooperative = strategy == "cooperative-sticky"
        let group = uniqueGroup("split-\(strategy)")
        let properties = ["partition.assignment.strategy": strategy]
        // Commit only when told to.
        let a = Member(commitEvery: .max)
        let b = Member(commitEvery: .max)
        let assignments = try await onDedicatedThread {
            let first = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: group, properties: properties),
                rebalanceHandler: a, logger: testLogger("a"))
            try first.subscribe(topics: [test.topic])
            try first.pollUntil(a, timeout: .seconds(20)) { a.processed.count >= 2000 }
            // The mock cluster refuses commits whenever its group is rebalancing, and a
            // revocation can fall into such a window (always under the eager protocol,
            // by timing under the cooperative one): commit before the second member joins.
            // Committing inside a revocation is covered by the restart test.
            try a.commitAll(consumer: first)

            let second = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: group, properties: properties),
                rebalanceHandler: b, logger: testLogger("b"))
            try second.subscribe(topics: [test.topic])
            // One thread drives both members in turn, each with short polls.
            func pollBoth(until done: () throws -> Bool, timeout: Duration) throws -> Bool {
                let clock = ContinuousClock()
                let deadline = clock.now + timeout
                while clock.now < deadline {
                    if try done() { return true }
                    if let message = try first.poll(timeout: .milliseconds(20)) { try a.process(message, consumer: first) }
                    if let message = try second.poll(timeout: .milliseconds(20)) { try b.process(message, consumer: second) }
                }
                return try done()
            }
            let split = try pollBoth(
                until: { try first.assignment().count == 2 && second.assignment().count == 2 }, timeout: .seconds(25))
            let assignments = (try first.assignment(), try second.assignment())
            if split {
                try test.produce(2000..<4000)
                _ = try pollBoth(until: { a.processed.count + b.processed.count >= 4000 }, timeout: .seconds(20))
                _ = try pollBoth(until: { false }, timeout: .milliseconds(500))
                try a.commitAll(consumer: first)
                try b.commitAll(consumer: second)
            }
            try first.close()
            try second.close()
            return assignments
        }
        try #require(assignments.0.count == 2 && assignments.1.count == 2, "the group did not split the partitions")
        #expect(Set(assignments.0).union(assignments.1) == Set(test.allPartitions))
        let all = a.processed + b.processed
        #expect(all.count == 4000, "duplicates: \(all.count - Set(all).count)")
        #expect(Set(all) == expectedPositions(0..<4000, partitions: 4))
        // Both members read the second half of the stream, each from its own partitions.
        let secondHalf = expectedPositions(2000..<4000, partitions: 4)
        #expect(a.processed.contains { secondHalf.contains($0) })
        #expect(b.processed.contains { secondHalf.contains($0) })
        let aState = a.state.withLock { $0 }
        #expect(aState.revokeCommitErrors.isEmpty)
        #expect(b.state.withLock { $0.revokeCommitErrors }.isEmpty)
        // The first revocation of `a`: everything under the eager protocol, only the two
        // partitions that move under the cooperative one.
        let firstRevocation = aState.revokedEvents.first ?? []
        #expect(firstRevocation.count == (cooperative ? 2 : 4))
    }

    @Test("start offsets returned by partitionsAssigned, and seek, position the partitions")
    func startOffsetsAndSeek() async throws {
        let test = try TestCluster()
        try test.produce(0..<400)  // 100 per partition
        let p = test.allPartitions
        let member = Member(startOffsets: [p[0]: 10, p[1]: 20, p[2]: KafkaOffset.beginning, p[3]: KafkaOffset.end])
        let afterSeek = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("seek")), rebalanceHandler: member,
                logger: testLogger("seek"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= 90 + 80 + 100 }
            try consumer.pollUntil(member, timeout: .milliseconds(500)) { false }
            // Partition 3 started at its end: it sees only what is produced from now on.
            try test.produce(400..<404)
            try consumer.pollUntil(member, timeout: .seconds(10)) { member.processed.count >= 274 }
            let before = member.processed.count
            try consumer.seek([p[0]: 95], timeout: .seconds(5))
            try consumer.pollUntil(member, timeout: .seconds(10)) { member.processed.count >= before + 6 }
            try consumer.pollUntil(member, timeout: .milliseconds(300)) { false }
            let afterSeek = Array(member.processed[before...])
            try consumer.close()
            return afterSeek
        }
        let processed = member.processed
        var expected = Set<Position>()
        for offset in Int64(10)...100 { expected.insert(Position(partition: 0, offset: offset)) }
        for offset in Int64(20)...100 { expected.insert(Position(partition: 1, offset: offset)) }
        for offset in Int64(0)...100 { expected.insert(Position(partition: 2, offset: offset)) }
        expected.insert(Position(partition: 3, offset: 100))
        #expect(Set(processed) == expected)
        #expect(afterSeek == (Int64(95)...100).map { Position(partition: 0, offset: $0) })
    }

    @Test("a tombstone arrives with a nil value, an empty value as empty bytes")
    func tombstones() async throws {
        let test = try TestCluster(topic: "items", partitions: 1)
        try test.producer.send(topic: "items", key: Array("item-1".utf8), value: nil)
        try test.producer.send(topic: "items", key: Array("item-2".utf8), value: [])
        try test.producer.send(topic: "items", key: nil, value: Array("x".utf8))
        try test.producer.flush(timeout: .seconds(10))
        let messages = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("tombstones")), logger: testLogger("items"))
            try consumer.subscribe(topics: ["items"])
            var messages: [KafkaConsumerMessage] = []
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while messages.count < 3, clock.now < deadline {
                if let message = try consumer.poll(timeout: .milliseconds(100)) { messages.append(message) }
            }
            try consumer.close()
            return messages
        }
        try #require(messages.count == 3)
        #expect(messages[0].key == Array("item-1".utf8))
        #expect(messages[0].value == nil)
        #expect(messages[0].isTombstone)
        #expect(messages[1].value == [])
        #expect(!messages[1].isTombstone)
        #expect(messages[2].key == nil)
        #expect(messages[2].value == Array("x".utf8))
        #expect(messages.allSatisfy { $0.timestampMilliseconds != nil })
    }

    @Test("the borrowing poll lends key and value bytes to its body")
    func borrowingPoll() async throws {
        let test = try TestCluster(topic: "raw", partitions: 1)
        try test.producer.send(topic: "raw", key: [1, 2, 3], value: Array(repeating: 7, count: 1000))
        try test.producer.send(topic: "raw", key: nil, value: nil)
        try test.producer.flush(timeout: .seconds(10))
        let seen = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("raw")), logger: testLogger("raw"))
            try consumer.subscribe(topics: ["raw"])
            var seen: [(offset: Int64, keyCount: Int?, valueSum: Int?)] = []
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while seen.count < 2, clock.now < deadline {
                let summary = try consumer.poll(timeout: .milliseconds(100)) { message in
                    (message.offset, message.key?.count, message.value.map { $0.reduce(0) { $0 + Int($1) } })
                }
                if let summary { seen.append(summary) }
            }
            try consumer.close()
            return seen.map { "\($0.offset):\($0.keyCount.map(String.init) ?? "nil"):\($0.valueSum.map(String.init) ?? "nil")" }
        }
        #expect(seen == ["0:3:7000", "1:nil:nil"])
    }

    @Test("paused partitions deliver nothing until resumed, then continue without gaps")
    func pauseAndResume() async throws {
        let test = try TestCluster()
        try test.produce(0..<800)  // 200 per partition
        let member = Member(commitEvery: 50)
        let paused = Array(test.allPartitions[0...1])
        let duringPause = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("pause")), rebalanceHandler: member,
                logger: testLogger("pause"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= 20 }
            try consumer.pause(paused)
            let before = member.processed.count
            try consumer.pollUntil(member, timeout: .milliseconds(1500)) { false }
            let duringPause = Array(member.processed[before...])
            try consumer.resume(paused)
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= 800 }
            try consumer.pollUntil(member, timeout: .milliseconds(500)) { false }
            try consumer.close()
            return duringPause
        }
        #expect(!duringPause.isEmpty)
        #expect(duringPause.allSatisfy { $0.partition >= 2 }, "paused partitions delivered \(duringPause.filter { $0.partition < 2 })")
        let processed = member.processed
        #expect(processed.count == 800)
        #expect(Set(processed) == expectedPositions(0..<800, partitions: 4))
    }

    @Test("with the broker down consumption stops; back up, it resumes and nothing is lost")
    func brokerOutage() async throws {
        let test = try TestCluster()
        let count = 4000
        try test.produce(0..<count)
        // Small fetches, so that the outage catches the consumer mid-stream.
        let properties = [
            "message.max.bytes": "2048", "fetch.max.bytes": "2048", "max.partition.fetch.bytes": "512",
        ]
        let member = Member(commitEvery: 200, asyncCommits: true)
        let (atOutageEnd, lateInOutage) = try await onDedicatedThread {
            var configuration = test.consumerConfiguration(group: uniqueGroup("outage"), properties: properties)
            configuration.maxPrefetchKilobytes = 1
            let consumer = try KafkaConsumer(
                configuration: configuration, rebalanceHandler: member, logger: testLogger("outage"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= 500 }
            try test.cluster.setBrokersDown()
            try consumer.pollUntil(member, timeout: .milliseconds(1500)) { false }
            let lateInOutageStart = member.processed.count
            try consumer.pollUntil(member, timeout: .milliseconds(1500)) { false }
            let atOutageEnd = member.processed.count
            try test.cluster.setBrokersUp()
            try consumer.pollUntil(member, timeout: .seconds(30)) { member.processed.count >= count }
            try consumer.pollUntil(member, timeout: .milliseconds(500)) { false }
            try member.commitAll(consumer: consumer)
            try consumer.close()
            return (atOutageEnd, atOutageEnd - lateInOutageStart)
        }
        #expect(atOutageEnd < count, "the outage did not interrupt consumption")
        #expect(lateInOutage == 0, "messages kept arriving with the broker down")
        let processed = member.processed
        #expect(processed.count == count)
        #expect(Set(processed) == expectedPositions(0..<count, partitions: 4))
    }

    @Test("statistics report per-partition lag against committed offsets; librdkafka logs reach the logger")
    func statisticsAndLogs() async throws {
        let test = try TestCluster()
        try test.produce(0..<400)
        let logs = InMemoryLogHandler()
        let logger = {
            var logger = Logger(label: "stats") { _ in logs }
            logger.logLevel = .debug
            return logger
        }()
        let member = Member(commitEvery: .max)
        let statistics = try await onDedicatedThread {
            var configuration = test.consumerConfiguration(group: uniqueGroup("stats"), properties: ["debug": "cgrp"])
            configuration.statisticsInterval = .milliseconds(200)
            let consumer = try KafkaConsumer(configuration: configuration, rebalanceHandler: member, logger: logger)
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= 400 }
            // Commit 10 short of the end of every partition: the lag is 10 each.
            try consumer.commit(Dictionary(uniqueKeysWithValues: test.allPartitions.map { ($0, Int64(90)) }))
            try consumer.pollUntil(member, timeout: .seconds(10)) {
                guard let statistics = consumer.statistics, statistics.partitions.count == 4 else { return false }
                return statistics.partitions.values.allSatisfy { $0.consumerLag == 10 }
            }
            let statistics = consumer.statistics
            try consumer.close()
            return statistics
        }
        let snapshot = try #require(statistics)
        #expect(Set(snapshot.partitions.keys) == Set(test.allPartitions))
        for partition in snapshot.partitions.values {
            #expect(partition.consumerLag == 10)
            #expect(partition.committedOffset == 90)
            #expect(partition.highWatermark == 100)
            #expect(partition.nextOffset == 100)
            #expect(partition.fetchQueueMessages == 0)
        }
        #expect(snapshot.totalConsumerLag == 40)
        #expect(snapshot.brokersUp == 1)
        #expect(snapshot.groupState == "up")
        let librdkafkaLines = logs.entries.filter { $0.metadata["kafka.facility"] != nil }
        #expect(librdkafkaLines.contains { $0.level == .debug && $0.metadata["kafka.client"] != nil })
        #expect(logs.entries.contains { "\($0.message)" == "partitions assigned" })
    }

    @Test("invalid properties fail with the property name and librdkafka's reason")
    func invalidProperties() throws {
        let logger = testLogger("config")
        func consumerError(_ properties: [String: String]) -> KafkaError? {
            do {
                _ = try KafkaConsumer(
                    configuration: KafkaConsumerConfiguration(
                        bootstrapServers: "127.0.0.1:9", groupID: "g", properties: properties),
                    logger: logger)
                return nil
            } catch {
                return error as? KafkaError
            }
        }
        let unknown = try #require(consumerError(["no.such.property": "1"]))
        #expect(unknown.code == .invalidConfiguration)
        #expect(unknown.property == "no.such.property")
        #expect(unknown.message.contains("No such configuration property"))

        let badValue = try #require(consumerError(["session.timeout.ms": "soon"]))
        #expect(badValue.property == "session.timeout.ms")
        #expect(badValue.description.contains("session.timeout.ms"))
        #expect(badValue.description.contains("Invalid value"))

        let managed = try #require(consumerError(["enable.auto.commit": "true"]))
        #expect(managed.property == "enable.auto.commit")

        let duplicate = try #require(consumerError(["group.id": "other"]))
        #expect(duplicate.property == "group.id")
        #expect(duplicate.description.contains("groupID"))

        #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:9", properties: ["acks": "most"]),
                logger: logger)
        }
    }
}
