import Foundation
import HSNNEvents
import HSNNSupport

/// Measures decoding throughput on one thread: the hsnn ``EventDecoder`` on realistic impression
/// messages and on a mixed stream, side by side with Foundation's `JSONSerialization` and
/// `JSONDecoder` on the same bytes. `hsnn bench decode` runs it and prints the result
/// (as a table or one JSON line).
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
    public struct Result: Sendable, Hashable {
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
        let passSeconds = max((clock.now - warmStart).inSeconds, 1e-6)
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
            let elapsed = (clock.now - start).inSeconds
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
}
