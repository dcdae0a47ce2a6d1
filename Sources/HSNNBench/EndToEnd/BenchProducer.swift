import Foundation
import HSNNDaemon
import HSNNEvents
import HSNNKafka
import HSNNSynth
import Logging
import Synchronization

/// Produces the synthetic stream into the broker on its own thread, each partition at most
/// `lead` events ahead of what the daemon has processed from it.
///
/// The producer picks partitions itself (by the key's hash, as ``keyPartition(of:topic:count:)``) so it
/// knows every partition's end offset; the daemon's status gives the next offset it reflects.
final class BenchProducer: Sendable {
    let produced = Atomic<Int64>(0)
    /// Largest lead of one partition, and of all partitions together, seen so far.
    let maxPartitionLead = Atomic<Int64>(0)
    let maxTotalLead = Atomic<Int64>(0)
    let exhausted = Atomic<Bool>(false)
    let error = Mutex<String?>(nil)
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    func start(synth: SynthConfig, bootstrap: String, settings: DaemonSettings, partitions: Int, lead: Int,
               status: DaemonStatusBoard) {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-bench-prod"
            do {
                try self.produce(synth: synth, bootstrap: bootstrap, settings: settings, partitions: partitions,
                                 lead: Int64(lead), status: status)
            } catch {
                self.error.withLock { $0 = "\(error)" }
            }
            self.finished.signal()
        }
        thread.start()
    }

    /// Asks the thread to stop and waits until its messages are flushed.
    func stop() async {
        stopRequested.store(true, ordering: .relaxed)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [finished] in
                finished.wait()
                continuation.resume()
            }
            thread.start()
        }
    }

    private func produce(synth: SynthConfig, bootstrap: String, settings: DaemonSettings, partitions: Int, lead: Int64,
                         status: DaemonStatusBoard) throws {
        var logger = Logger(label: "hsnn.bench.producer")
        logger.logLevel = .warning
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: bootstrap, clientID: "hsnn-bench",
                properties: ["linger.ms": "5", "queue.buffering.max.messages": "\(max(100_000, 2 * lead * Int64(partitions)))"]),
            logger: logger)
        // Slots 0..<partitions are the events topic's partitions, the last one the catalog's.
        let names = (0..<partitions).map { "\(settings.eventsTopic)/\($0)" } + ["\(settings.itemsTopic)/0"]
        var sent = [Int64](repeating: 0, count: partitions + 1)
        var done = [Int64](repeating: 0, count: partitions + 1)
        func refresh() {
            let offsets = status.current.offsets
            var total: Int64 = 0
            var largest: Int64 = 0
            for slot in names.indices {
                done[slot] = offsets[names[slot]] ?? 0
                total += sent[slot] - done[slot]
                largest = max(largest, sent[slot] - done[slot])
            }
            maxTotalLead.store(max(maxTotalLead.load(ordering: .relaxed), total), ordering: .relaxed)
            maxPartitionLead.store(max(maxPartitionLead.load(ordering: .relaxed), largest), ordering: .relaxed)
        }

        let encoder = EventEncoder()
        var bytes: [UInt8] = []
        var count: Int64 = 0
        var iterator = try SyntheticStream(config: synth).makeIterator()
        produce: while !stopRequested.load(ordering: .relaxed) {
            guard let event = iterator.next() else {
                exhausted.store(true, ordering: .relaxed)
                break produce
            }
            let topic: String
            let key: String
            let slot: Int
            switch event {
            case .item(let e): (topic, key, slot) = (settings.itemsTopic, e.itemID, partitions)
            case .impression(let e): (topic, key, slot) = (settings.eventsTopic, e.userID, Int(keyPartition(of: e.userID, count: partitions)))
            case .click(let e): (topic, key, slot) = (settings.eventsTopic, e.userID, Int(keyPartition(of: e.userID, count: partitions)))
            }
            if count % 512 == 0 { refresh() }
            while sent[slot] - done[slot] >= lead {
                if stopRequested.load(ordering: .relaxed) { break produce }
                producer.poll(timeout: .milliseconds(5))
                refresh()
            }
            bytes.removeAll(keepingCapacity: true)
            try encoder.encode(event, into: &bytes)
            try producer.send(topic: topic, key: Array(key.utf8), value: bytes, partition: slot == partitions ? 0 : Int32(slot))
            sent[slot] += 1
            count += 1
            produced.store(count, ordering: .relaxed)
        }
        try producer.flush(timeout: .seconds(60))
    }
}

/// The partition a key goes to (FNV-1a of its UTF-8 bytes), as a keyed producer spreads users.
func keyPartition(of key: String, count: Int) -> Int32 {
    var hash: UInt32 = 2_166_136_261
    for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return Int32(hash % UInt32(count))
}
