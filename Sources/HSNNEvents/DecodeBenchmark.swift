import Foundation

/// Measures decoding throughput on one thread: the hsnn ``EventDecoder`` on realistic impression
/// messages and on a mixed stream, side by side with Foundation's `JSONSerialization` and
/// `JSONDecoder` on the same bytes. `hsnn bench decode` runs it and prints the result.
public enum DecodeBenchmark {
    /// What to measure.
    public struct Configuration: Sendable, Hashable {
        /// Distinct messages per set (the set is decoded repeatedly).
        public var messageCount: Int
        /// Timed runs per measurement; the median is reported.
        public var runs: Int
        /// Minimum duration of one timed run in seconds (passes over the set repeat until reached).
        public var minimumRunSeconds: Double
        /// Also measure Foundation (slow: about ten times fewer passes are needed).
        public var includeFoundation: Bool
        /// Seed of the generated messages.
        public var seed: UInt64

        public init(messageCount: Int = 20_000, runs: Int = 7, minimumRunSeconds: Double = 0.3,
                    includeFoundation: Bool = true, seed: UInt64 = 1) {
            self.messageCount = messageCount
            self.runs = runs
            self.minimumRunSeconds = minimumRunSeconds
            self.includeFoundation = includeFoundation
            self.seed = seed
        }
    }

    /// One decoder on one message set.
    public struct Measurement: Sendable, Hashable {
        /// What was measured (`hsnn.impressions`, `foundation.jsonserialization.impressions`, ...).
        public var name: String
        /// Median messages decoded per second over the runs.
        public var eventsPerSecond: Double
        /// Median input megabytes (10^6 bytes) per second.
        public var megabytesPerSecond: Double
        /// Median messages per second of thread CPU time: the rate of one fully available core,
        /// unaffected by other processes competing for the machine.
        public var eventsPerCPUSecond: Double
        /// Messages per second of every run, in run order.
        public var runEventsPerSecond: [Double]
        /// Messages the decoder rejected in the last run (0 for valid input).
        public var failures: Int
    }

    /// Everything one benchmark run measured.
    public struct Result: Sendable, Hashable, CustomStringConvertible {
        /// Distinct messages per set.
        public var messageCount: Int
        /// Mean size of an impression message in bytes.
        public var meanImpressionBytes: Double
        /// Mean size of a message of the mixed set in bytes.
        public var meanMixedBytes: Double
        /// All measurements, hsnn first.
        public var measurements: [Measurement]

        /// The measurement called `name`, if it ran.
        public func measurement(_ name: String) -> Measurement? { measurements.first { $0.name == name } }

        /// hsnn impressions per CPU-second divided by Foundation `JSONSerialization`'s (CPU time
        /// keeps the ratio stable when other processes compete for the machine).
        public var speedupOverJSONSerialization: Double? {
            guard let ours = measurement("hsnn.impressions"),
                  let theirs = measurement("foundation.jsonserialization.impressions") else { return nil }
            return ours.eventsPerCPUSecond / theirs.eventsPerCPUSecond
        }

        /// hsnn impressions per CPU-second divided by Foundation `JSONDecoder`'s.
        public var speedupOverJSONDecoder: Double? {
            guard let ours = measurement("hsnn.impressions"),
                  let theirs = measurement("foundation.jsondecoder.impressions") else { return nil }
            return ours.eventsPerCPUSecond / theirs.eventsPerCPUSecond
        }

        /// A human-readable table.
        public var description: String {
            var lines = ["decode benchmark: one thread, \(messageCount) distinct messages per set, "
                + "impressions \(format(meanImpressionBytes, 0)) B mean, mixed \(format(meanMixedBytes, 0)) B mean"]
            for m in measurements {
                lines.append("  \(m.name.padding(toLength: 42, withPad: " ", startingAt: 0)) "
                    + "\(format(m.eventsPerSecond, 0).leftPadded(11)) events/s  \(format(m.megabytesPerSecond, 1).leftPadded(8)) MB/s"
                    + "  \(format(m.eventsPerCPUSecond, 0).leftPadded(11)) events/cpu-s"
                    + (m.failures > 0 ? "  (\(m.failures) failures)" : ""))
            }
            if let ratio = speedupOverJSONSerialization { lines.append("  hsnn / JSONSerialization (per cpu-s): \(format(ratio, 1))x") }
            if let ratio = speedupOverJSONDecoder { lines.append("  hsnn / JSONDecoder (per cpu-s):       \(format(ratio, 1))x") }
            return lines.joined(separator: "\n")
        }

        /// One JSON object on one line, for machine consumption.
        public var jsonLine: String {
            var fields = [
                "\"benchmark\":\"decode\"", "\"threads\":1", "\"messages\":\(messageCount)",
                "\"mean_impression_bytes\":\(format(meanImpressionBytes, 1))", "\"mean_mixed_bytes\":\(format(meanMixedBytes, 1))",
            ]
            for m in measurements {
                fields.append("\"\(m.name)\":{\"events_per_s\":\(format(m.eventsPerSecond, 0)),\"mb_per_s\":\(format(m.megabytesPerSecond, 2)),\"events_per_cpu_s\":\(format(m.eventsPerCPUSecond, 0)),\"failures\":\(m.failures)}")
            }
            if let ratio = speedupOverJSONSerialization { fields.append("\"speedup_vs_jsonserialization\":\(format(ratio, 2))") }
            if let ratio = speedupOverJSONDecoder { fields.append("\"speedup_vs_jsondecoder\":\(format(ratio, 2))") }
            return "{" + fields.joined(separator: ",") + "}"
        }
    }

    /// Generates the message sets and measures every decoder on them, single-threaded.
    public static func run(_ configuration: Configuration = Configuration()) -> Result {
        let count = max(configuration.messageCount, 1)
        let nowMs = EventDecoder.systemClockMilliseconds()
        var generator = MessageGenerator(seed: configuration.seed, nowMs: nowMs)
        let impressions = MessageSet((0..<count).map { _ in generator.impression() })
        let mixed = MessageSet((0..<count).map { _ in generator.mixed() })
        let decoder = EventDecoder()

        var measurements: [Measurement] = []
        measurements.append(measure("hsnn.impressions", impressions, configuration) { bytes in
            switch decoder.decodeResult(bytes) {
            case .success(let event): return Int(truncatingIfNeeded: event.timestampMs)
            case .failure: return nil
            }
        })
        measurements.append(measure("hsnn.mixed", mixed, configuration) { bytes in
            switch decoder.decodeResult(bytes) {
            case .success(let event): return Int(truncatingIfNeeded: event.timestampMs)
            case .failure: return nil
            }
        })
        if configuration.includeFoundation {
            measurements.append(measure("foundation.jsonserialization.impressions", impressions, configuration) { bytes in
                let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count,
                                deallocator: .none)
                guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
                return object.count
            })
            let jsonDecoder = JSONDecoder()
            measurements.append(measure("foundation.jsondecoder.impressions", impressions, configuration) { bytes in
                let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress!), count: bytes.count,
                                deallocator: .none)
                guard let impression = try? jsonDecoder.decode(CodableImpression.self, from: data) else { return nil }
                return Int(truncatingIfNeeded: impression.ts_ms)
            })
        }
        return Result(messageCount: count, meanImpressionBytes: impressions.meanBytes, meanMixedBytes: mixed.meanBytes,
                      measurements: measurements)
    }

    /// Times `decode` over the whole set, repeating passes until a run lasts long enough.
    private static func measure(_ name: String, _ set: MessageSet, _ configuration: Configuration,
                                _ decode: (UnsafeRawBufferPointer) -> Int?) -> Measurement {
        // One untimed pass to warm caches and learn the pass time.
        let clock = ContinuousClock()
        var checksum = 0
        let warmStart = clock.now
        set.forEach { if let v = decode($0) { checksum &+= v; return true } else { return false } }
        let passSeconds = max(seconds(clock.now - warmStart), 1e-6)
        let passes = max(1, Int((configuration.minimumRunSeconds / passSeconds).rounded(.up)))

        var rates: [Double] = []
        var cpuRates: [Double] = []
        var failures = 0
        for _ in 0..<max(configuration.runs, 1) {
            failures = 0
            let cpuStart = threadCPUSeconds()
            let start = clock.now
            for _ in 0..<passes {
                failures += set.forEach { if let v = decode($0) { checksum &+= v; return true } else { return false } }
            }
            let elapsed = seconds(clock.now - start)
            let cpuElapsed = threadCPUSeconds() - cpuStart
            rates.append(Double(passes * set.count) / elapsed)
            cpuRates.append(Double(passes * set.count) / max(cpuElapsed, 1e-9))
        }
        failures /= passes
        // Keep the checksum observable so the work cannot be optimised away.
        if checksum == 42 { print("", terminator: "") }
        let median = rates.sorted()[rates.count / 2]
        return Measurement(name: name, eventsPerSecond: median, megabytesPerSecond: median * set.meanBytes / 1e6,
                           eventsPerCPUSecond: cpuRates.sorted()[cpuRates.count / 2], runEventsPerSecond: rates,
                           failures: failures)
    }

    /// CPU time consumed by the calling thread.
    private static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (s, attoseconds) = duration.components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}

/// Messages stored back to back in one buffer, like a batch of consumed Kafka payloads.
private struct MessageSet {
    var bytes: [UInt8] = []
    var offsets: [Int] = [0]

    init(_ messages: [String]) {
        for message in messages {
            bytes.append(contentsOf: message.utf8)
            offsets.append(bytes.count)
        }
    }

    var count: Int { offsets.count - 1 }
    var meanBytes: Double { Double(bytes.count) / Double(max(count, 1)) }

    /// Calls `body` on every message; returns how many calls returned false.
    @discardableResult
    func forEach(_ body: (UnsafeRawBufferPointer) -> Bool) -> Int {
        bytes.withUnsafeBytes { all in
            var rejected = 0
            for i in 0..<count {
                let message = UnsafeRawBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]])
                if !body(message) { rejected += 1 }
            }
            return rejected
        }
    }
}

/// The impression fields, for the `JSONDecoder` reference.
private struct CodableImpression: Decodable {
    var type: String
    var event_id: String
    var request_id: String?
    var ts_ms: Int64
    var user_id: String
    var item_id: String
    var user_features: [String: String]?
    var clicked: Bool?
}

/// Production-like messages: UUID event and request ids, numeric user/item ids as strings,
/// MovieLens-style user features, a mix of labelled and unlabelled impressions.
private struct MessageGenerator {
    var state: UInt64
    let nowMs: Int64
    let encoder = EventEncoder()

    static let ages = ["under-18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
    static let occupations = ["writer", "programmer", "student", "educator", "engineer", "artist", "executive",
                              "healthcare", "lawyer", "librarian", "marketing", "retired", "scientist", "technician"]
    static let genres = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
                         "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War"]

    init(seed: UInt64, nowMs: Int64) {
        state = seed
        self.nowMs = nowMs
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uuid() -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { s.append("-") }
            s.append(hex[Int(next() & 15)])
        }
        return s
    }

    mutating func pick(_ values: [String]) -> String { values[Int(next() % UInt64(values.count))] }

    mutating func timestamp() -> Int64 { nowMs - Int64(next() % 3_600_000) }

    mutating func impression() -> String {
        let clicked: Bool? = switch next() % 3 {
        case 0: nil
        case 1: true
        default: false
        }
        let event = Event.impression(ImpressionEvent(
            eventID: uuid(), requestID: uuid(), timestampMs: timestamp(), userID: String(next() % 1_000_000),
            itemID: String(next() % 100_000),
            userFeatures: Features([
                ("age", .string(pick(Self.ages))), ("gender", .string(next() % 2 == 0 ? "F" : "M")),
                ("occupation", .string(pick(Self.occupations))), ("zip", .string(String(10_000 + next() % 90_000))),
            ]),
            clicked: clicked))
        return (try? encoder.encode(event)) ?? ""
    }

    mutating func mixed() -> String {
        switch next() % 10 {
        case 0:
            let genres = (0..<Int(1 + next() % 3)).map { _ in pick(Self.genres) }
            let event = Event.item(ItemEvent(op: .upsert, itemID: String(next() % 100_000), timestampMs: timestamp(),
                                             features: Features([("genre", .strings(genres)),
                                                                 ("year", .number(Double(1920 + next() % 100)))])))
            return (try? encoder.encode(event)) ?? ""
        case 1, 2:
            let event = Event.click(ClickEvent(eventID: uuid(), requestID: uuid(), timestampMs: timestamp(),
                                               userID: String(next() % 1_000_000), itemID: String(next() % 100_000)))
            return (try? encoder.encode(event)) ?? ""
        default:
            return impression()
        }
    }
}

private func format(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
