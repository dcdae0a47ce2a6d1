import ArgumentParser
import HSNNEvents
import HSNNSynth

#if canImport(Glibc)
import Glibc
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int { Glibc.write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Darwin)
import Darwin
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int { Darwin.write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif

/// `hsnn synth`: writes a deterministic synthetic event stream as JSON lines.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a deterministic synthetic event stream (catalog, impressions, clicks) as JSON lines.",
        discussion: """
            The click probability is not a dot product (user-specific genre/creator affinities, a \
            segment x category x price-tier effect, popularity, freshness, fatigue) and drifts (items \
            born and expired, user interests that shift). Same seed and sizes, same bytes.

            Default stream: 5,000 users, 20,000 items over 30 days, 1,000,000 impressions, CTR 5%.
            With --out-prefix P it writes P.train.jsonl (events before the first session starting at \
            or after --split of the impressions; catalog events where they fall), P.test.jsonl (the \
            rest) and P.users.jsonl (users with history in train and a click in test). A one-line \
            JSON summary goes to stderr.
            """
    )

    @Option(help: "Seed of every random draw.")
    var seed: UInt64 = 1

    @Option(help: "Number of users.")
    var users: Int?

    @Option(help: "Number of items born over the stream.")
    var items: Int?

    @Option(help: "Number of impressions (catalog and click events come on top).")
    var events: Int?

    @Option(help: "Length of the stream in days of event time.")
    var days: Double?

    @Option(help: "Overall click-through rate the click model is calibrated to.")
    var ctr: Double?

    @Flag(help: "Emit unlabelled impressions plus separate click events a few seconds later.")
    var clickEvents = false

    @Option(help: "Output file (default: standard output).")
    var out: String?

    @Option(help: "Share of impressions in the train file (with --out-prefix).")
    var split: Double?

    @Option(help: "Write PREFIX.train.jsonl, PREFIX.test.jsonl and PREFIX.users.jsonl.")
    var outPrefix: String?

    @Flag(help: "Generate without writing (measures generation speed; the summary still prints).")
    var noOutput = false

    func validate() throws {
        if split != nil && outPrefix == nil {
            throw ValidationError("--split needs --out-prefix PREFIX to name the train, test and users files")
        }
        if let split, !(split > 0 && split < 1) {
            throw ValidationError("--split must be between 0 and 1 (exclusive), e.g. 0.8")
        }
        if outPrefix != nil && out != nil {
            throw ValidationError("use either --out FILE (one stream) or --out-prefix PREFIX (train/test split)")
        }
        if noOutput && (out != nil || outPrefix != nil) {
            throw ValidationError("--no-output writes nothing; drop --out/--out-prefix or --no-output")
        }
        if let days, !(days > 0) { throw ValidationError("--days must be positive") }
    }

    func run() throws {
        var config = SynthConfig(seed: seed)
        if let users { config.numUsers = users }
        if let items { config.numItems = items }
        if let events { config.numImpressions = events }
        if let days { config.durationMs = Int64(days * 86_400_000) }
        if let ctr { config.targetCTR = ctr }
        config.emitClickEvents = clickEvents

        let started = monotonicSeconds()
        let stream: SyntheticStream
        do {
            stream = try SyntheticStream(config: config)
        } catch {
            throw SynthCommandError(String(describing: error))
        }
        let built = monotonicSeconds()

        var summary = SynthSummary()
        if let outPrefix {
            try writeSplit(stream, prefix: outPrefix, trainFraction: split ?? 0.8, summary: &summary)
        } else if noOutput {
            var iterator = stream.makeIterator()
            while let event = iterator.next() { summary.count(event, clicked: iterator.lastClicked) }
        } else {
            let writer = try LineWriter(path: out)
            var iterator = stream.makeIterator()
            let encoder = EventEncoder()
            var buffer: [UInt8] = []
            buffer.reserveCapacity(512)
            while let event = iterator.next() {
                summary.count(event, clicked: iterator.lastClicked)
                try writer.write(event, encoder: encoder, buffer: &buffer)
            }
            try writer.close()
        }
        let finished = monotonicSeconds()
        summary.print(seed: seed, config: config, intercept: stream.intercept,
                      buildSeconds: built - started, generateSeconds: finished - built)
    }

    private func writeSplit(_ stream: SyntheticStream, prefix: String, trainFraction: Double,
                            summary: inout SynthSummary) throws {
        let train = try LineWriter(path: prefix + ".train.jsonl")
        let test = try LineWriter(path: prefix + ".test.jsonl")
        let encoder = EventEncoder()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        var inTrain = [Bool](repeating: false, count: stream.userCount)
        var clickedInTest = [Bool](repeating: false, count: stream.userCount)
        var iterator = stream.split(trainFraction: trainFraction).makeIterator()
        while let (part, event) = iterator.next() {
            summary.count(event, clicked: iterator.base.lastClicked)
            switch part {
            case .train:
                summary.trainEvents += 1
                if case .impression(let impression) = event, let u = Int(impression.userID) { inTrain[u] = true }
                try train.write(event, encoder: encoder, buffer: &buffer)
            case .test:
                summary.testEvents += 1
                switch event {
                case .impression(let impression) where impression.clicked == true:
                    if let u = Int(impression.userID) { clickedInTest[u] = true }
                case .click(let click):
                    if let u = Int(click.userID) { clickedInTest[u] = true }
                default:
                    break
                }
                try test.write(event, encoder: encoder, buffer: &buffer)
            }
        }
        try train.close()
        try test.close()
        let usersFile = try LineWriter(path: prefix + ".users.jsonl")
        for u in 0..<stream.userCount where inTrain[u] && clickedInTest[u] {
            buffer.removeAll(keepingCapacity: true)
            do {
                try encoder.encode(UserQuery(userID: String(u), userFeatures: stream.userFeatures(index: u)),
                                   into: &buffer)
            } catch {
                throw SynthCommandError(String(describing: error))
            }
            try usersFile.writeLine(buffer)
            summary.testUsers += 1
        }
        try usersFile.close()
        summary.split = trainFraction
    }
}

/// Counts for the stderr summary line.
private struct SynthSummary {
    var events = 0, upserts = 0, deletes = 0, impressions = 0, clicks = 0, clickEvents = 0
    var trainEvents = 0, testEvents = 0, testUsers = 0
    var split: Double?

    mutating func count(_ event: Event, clicked: Bool?) {
        events += 1
        switch event {
        case .item(let item): if item.op == .upsert { upserts += 1 } else { deletes += 1 }
        case .impression:
            impressions += 1
            if clicked == true { clicks += 1 }
        case .click: clickEvents += 1
        }
    }

    func print(seed: UInt64, config: SynthConfig, intercept: Double, buildSeconds: Double, generateSeconds: Double) {
        var fields: [String] = [
            "\"seed\":\(seed)", "\"users\":\(config.numUsers)", "\"items\":\(config.numItems)",
            "\"events\":\(events)", "\"item_upserts\":\(upserts)", "\"item_deletes\":\(deletes)",
            "\"impressions\":\(impressions)", "\"clicks\":\(clicks)", "\"click_events\":\(clickEvents)",
            "\"ctr\":\(rounded(impressions > 0 ? Double(clicks) / Double(impressions) : 0, 5))",
            "\"target_ctr\":\(config.targetCTR)", "\"intercept\":\(rounded(intercept, 4))",
        ]
        if let split {
            fields += ["\"split\":\(split)", "\"train_events\":\(trainEvents)", "\"test_events\":\(testEvents)",
                       "\"test_users\":\(testUsers)"]
        }
        fields += [
            "\"build_s\":\(rounded(buildSeconds, 3))", "\"generate_s\":\(rounded(generateSeconds, 3))",
            "\"events_per_s\":\(Int(Double(events) / max(generateSeconds, 1e-9)))",
        ]
        let line = "{" + fields.joined(separator: ",") + "}\n"
        printToStandardError(line)
    }

    private func rounded(_ x: Double, _ digits: Int) -> Double {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return (x * scale).rounded() / scale
    }
}

/// A buffered writer of JSON lines to a file or standard output.
private final class LineWriter {
    private let descriptor: Int32
    private let path: String
    private var pending: [UInt8] = []
    private static let flushThreshold = 1 << 20

    /// Opens `path` for writing (truncating), or standard output when `path` is nil or "-".
    init(path: String?) throws {
        if let path, path != "-" {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else {
                throw SynthCommandError("cannot open \(path) for writing: \(String(cString: strerror(errno))); check the directory exists and is writable")
            }
            descriptor = fd
            self.path = path
        } else {
            descriptor = STDOUT_FILENO
            self.path = "standard output"
        }
        pending.reserveCapacity(Self.flushThreshold + 4_096)
    }

    func write(_ event: Event, encoder: EventEncoder, buffer: inout [UInt8]) throws {
        buffer.removeAll(keepingCapacity: true)
        do {
            try encoder.encode(event, into: &buffer)
        } catch {
            throw SynthCommandError(String(describing: error))
        }
        try writeLine(buffer)
    }

    func writeLine(_ bytes: [UInt8]) throws {
        pending.append(contentsOf: bytes)
        pending.append(0x0A)
        if pending.count >= Self.flushThreshold { try flush() }
    }

    /// Writes what is buffered and closes the file (standard output stays open).
    func close() throws {
        try flush()
        if descriptor != STDOUT_FILENO && systemClose(descriptor) != 0 {
            throw SynthCommandError("cannot finish writing \(path): \(String(cString: strerror(errno))); check free disk space")
        }
    }

    private func flush() throws {
        var offset = 0
        while offset < pending.count {
            let written = pending.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SynthCommandError("cannot write to \(path): \(String(cString: strerror(errno))); check free disk space")
            }
            offset += written
        }
        pending.removeAll(keepingCapacity: true)
    }
}

/// Writes `line` to standard error in one call.
private func printToStandardError(_ line: String) {
    var bytes = Array(line.utf8)
    bytes.withUnsafeMutableBytes { _ = systemWrite(STDERR_FILENO, $0.baseAddress, $0.count) }
}

private func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// A failure of `hsnn synth` after its arguments were accepted: what went wrong and what to do.
private struct SynthCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
