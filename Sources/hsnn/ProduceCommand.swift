import ArgumentParser
import Foundation
import HSNNEvents
import HSNNKafka
import HSNNSynth
import Logging

/// `hsnn produce`: writes events to Kafka, from a JSON-lines file or the synthetic generator.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce events to Kafka from a JSON-lines file or the synthetic stream.",
        discussion: """
            Item events go to the catalog topic keyed by item id; impressions and clicks go to the events \
            topic keyed by user id (so a user's events stay in order on one partition). Lines are sent as \
            they are; a line that is not a valid event is still sent with --raw (useful to test bad input), \
            otherwise it is reported and skipped.
            """)

    @Option(help: "Bootstrap servers, host:port[,host:port...].") var brokers: String
    @Option(help: "JSON-lines file of events ('-' for standard input).") var file: String?
    @Flag(help: "Produce the synthetic stream (see hsnn synth) instead of a file.") var synth = false
    @Option(help: "Synthetic stream seed.") var seed: UInt64 = 1
    @Option(help: "Synthetic stream: number of impressions (default: the generator's).") var events: Int?
    @Flag(help: "Synthetic stream: unlabelled impressions plus separate click events (exercises the joiner).") var clickEvents = false
    @Option(help: "Stop after this many messages.") var limit: Int?
    @Option(help: "Events topic.") var eventsTopic = "hsnn.events"
    @Option(help: "Catalog topic.") var itemsTopic = "hsnn.items"
    @Flag(help: "Send file lines verbatim, valid or not.") var raw = false
    @Option(name: .customLong("property"), help: ArgumentHelp("librdkafka producer property (repeatable).", valueName: "key=value"))
    var properties: [String] = []

    func validate() throws {
        guard (file != nil) != synth else { throw ValidationError("give exactly one of --file FILE or --synth") }
    }

    func run() async throws {
        var logger = Logger(label: "hsnn.produce")
        logger.logLevel = .warning
        var props: [String: String] = ["linger.ms": "20", "queue.buffering.max.messages": "200000"]
        for p in properties {
            guard let eq = p.firstIndex(of: "=") else { throw ValidationError("--property needs key=value, got '\(p)'") }
            props[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "hsnn-produce", properties: props), logger: logger)
        let encoder = EventEncoder()
        var sent = 0, skipped = 0
        func send(_ event: Event) throws {
            var bytes: [UInt8] = []
            try encoder.encode(event, into: &bytes)
            try sendBytes(bytes, for: event)
        }
        func sendBytes(_ bytes: [UInt8], for event: Event?) throws {
            switch event {
            case .item(let e)?: try producer.send(topic: itemsTopic, key: Array(e.itemID.utf8), value: bytes)
            case .impression(let e)?: try producer.send(topic: eventsTopic, key: Array(e.userID.utf8), value: bytes)
            case .click(let e)?: try producer.send(topic: eventsTopic, key: Array(e.userID.utf8), value: bytes)
            case nil: try producer.send(topic: eventsTopic, key: nil, value: bytes)
            }
            sent += 1
            if sent % 10_000 == 0 { producer.poll() }
        }
        if synth {
            var config = SynthConfig(seed: seed)
            if let events { config.numImpressions = events }
            config.emitClickEvents = clickEvents
            for event in try SyntheticStream(config: config) {
                if let limit, sent >= limit { break }
                try send(event)
            }
        } else if let file {
            let decoder = EventDecoder(limits: DecoderLimits(maxFutureSkewMs: nil))
            let reader = try LineBytesReader(path: file)
            var lineNumber = 0
            while let line = try reader.next() {
                lineNumber += 1
                if let limit, sent >= limit { break }
                let event = try? line.withUnsafeBytes { bytes throws(DecodeFailure) in try decoder.decode(bytes) }
                if event == nil, !raw {
                    skipped += 1
                    FileHandle.standardError.write(Data("line \(lineNumber): not a valid event, skipped (use --raw to send it anyway)\n".utf8))
                    continue
                }
                try sendBytes(line, for: event)
            }
        }
        try producer.flush(timeout: .seconds(60))
        let counts = producer.deliveryCounts
        print("{\"sent\":\(sent),\"delivered\":\(counts.delivered),\"failed\":\(counts.failed),\"skipped\":\(skipped)}")
        if counts.failed > 0 { throw ExitCode(1) }
    }
}

/// Reads a file line by line as raw bytes (no trailing newline, CR stripped, blank lines skipped).
final class LineBytesReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false

    init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let h = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot open \(path)") }
            handle = h
        }
    }

    func next() throws -> [UInt8]? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                var line = Array(buffer[start..<nl])
                start = nl + 1
                if line.last == 0x0D { line.removeLast() }
                if line.isEmpty { continue }
                return line
            }
            if eof {
                guard start < buffer.count else { return nil }
                var line = Array(buffer[start...])
                start = buffer.count
                if line.last == 0x0D { line.removeLast() }
                return line.isEmpty ? nil : line
            }
            buffer.removeFirst(start)
            start = 0
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
