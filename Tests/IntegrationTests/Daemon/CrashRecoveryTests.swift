import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNEvents
import HSNNKafka
import HSNNPipeline
import Safetensors
import Testing
import HSNNMath
import HSNNTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Exactly-once training across crashes, end to end with real processes: librdkafka's mock
/// cluster (the broker `hsnn dev-broker` runs) hosted by the test process, so it outlives every
/// daemon; a synthetic stream produced once with `hsnn produce`; `hsnn run` daemons on one BLAS
/// thread. The broker answers with a round-trip time and the daemons fetch small batches, so a
/// daemon takes seconds rather than a fraction of one to read the stream and the kills spread
/// over it.
///
/// Run A trains the whole stream without interruption. Run B trains the same stream (fresh
/// checkpoint directory, another consumer group) but is killed with SIGKILL at 20 seeded random
/// moments (during start-up, while training, right after a publish's temporary folder appears,
/// right after `LATEST` moves) and restarted each time. Both end with SIGTERM. Their final
/// models must be equal bit for bit, and every produced impression must be trained exactly once
/// (or still wait in the partial batch or the joiner). It runs on two streams: labelled
/// impressions, and unlabelled impressions with click events (the joiner's state then crosses
/// every restart). Catalog events travel in the same partition, so every run sees one order.
@Suite struct CrashRecoveryTests {
    /// Everything produced to the broker, counted from the file that was produced.
    struct ProducedStream {
        var records = 0
        var impressions = 0
        var clicks = 0
        var itemUpserts = 0
        var itemDeletes = 0
    }

    /// The two streams the test runs on.
    enum StreamKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// Labelled impressions: the joiner passes them straight through.
        case labelled
        /// Unlabelled impressions plus click events a few seconds later: the joiner's pending
        /// impressions and clicks are part of every checkpoint.
        case clickEvents

        var testDescription: String { rawValue }
    }

    /// When one life of Run B is killed. Apart from start-up kills, a life first runs until
    /// its model reflects a stream position (`at`, restored or trained), then waits for the
    /// moment; positions are spread over the stream, so the kills are too.
    enum KillPlan: CustomStringConvertible {
        /// During start-up (restore, group join): `delayMs` after the process starts.
        case startup(delayMs: Int)
        /// While training: once the model reflects `extra` records past `at`.
        case training(at: Int64, extra: Int64)
        /// During a publish: as soon as the temporary folder of the `publish`-th publish after
        /// `at` appears, after `delayMicros`.
        case midPublish(at: Int64, publish: Int, delayMicros: Int)
        /// As soon as `LATEST` names the version of the `publish`-th publish after `at` (before
        /// its offsets are committed and older versions pruned, when the kill is quick enough).
        case afterPublish(at: Int64, publish: Int)

        var description: String {
            switch self {
            case .startup(let d): "start-up +\(d) ms"
            case .training(let at, let r): "training @\(at) +\(r) records"
            case .midPublish(let at, let p, let d): "@\(at) publish #\(p) in flight +\(d) us"
            case .afterPublish(let at, let p): "@\(at) publish #\(p) done"
            }
        }

        var position: Int64 {
            switch self {
            case .startup: 0
            case .training(let at, _), .midPublish(let at, _, _), .afterPublish(let at, _): at
            }
        }
    }

    static let kills = 20
    static let seed: UInt64 = 0x5EED_C0DE

    /// A small model on one BLAS thread: the stream trains in seconds and every run is
    /// deterministic.
    static let modelOverrides = [
        "training.threads=1", "training.batch_size=64", "training.seed=3",
        "model.embedding_dim=8", "model.hash_buckets=8192", "model.dim=8",
        "model.item_user_rows=2", "model.item_item_rows=2", "model.index_user_rows=2", "model.index_item_rows=2",
        "model.item_tower_hidden=[16]", "model.item_interaction_hidden=[16]", "model.item_over_hidden=[16]",
        "model.index_tower_hidden=[16]", "model.index_interaction_hidden=[16]", "model.index_over_hidden=[16]",
        "index.levels=3", "index.nodes=[16,4]", "index.beam=[4,4]", "index.dim=8",
        "index.schedule_events=20000", "index.remap_every_batches=25",
    ]

    func daemonArguments(brokers: String, group: String, checkpoints: URL) -> [String] {
        let settings = [
            "kafka.brokers=\(brokers)", "kafka.group_id=\(group)", "checkpoint.dir=\(checkpoints.path)",
            "checkpoint.every_seconds=0", "checkpoint.every_events=1000", "checkpoint.keep=3",
            "http.port=0", "log.level=info", "kafka.poll_timeout_ms=50", "shutdown.grace_seconds=60",
            // A killed member leaves the group only when its session times out: keep that short.
            "kafka.properties.session.timeout.ms=3000", "kafka.properties.heartbeat.interval.ms=300",
            "kafka.properties.max.poll.interval.ms=10000",
            // About 70 records per fetch: with the broker's round-trip time, a few thousand a second.
            "kafka.properties.max.partition.fetch.bytes=16384",
        ] + Self.modelOverrides
        return settings.flatMap { ["--set", $0] }
    }

    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)),
          .timeLimit(.minutes(10)), arguments: StreamKind.allCases)
    func modelAfterTwentySIGKILLsEqualsTheUninterruptedModelBitForBit(stream kind: StreamKind) async throws {
        let started = ContinuousClock.now
        let folder = try makeScratchFolder("hsnn-crash-\(kind.rawValue)")
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(at: folder) } }

        // The stream: impressions (and clicks) and catalog events, in one file, produced in file
        // order to the single partition of the events topic (one total order for every run).
        let streamFile = folder.appendingPathComponent("stream.jsonl")
        let impressions = kind == .labelled ? 16_000 : 12_000
        _ = try runHSNN(["synth", "--seed", "11", "--events", "\(impressions)", "--users", "400", "--items", "1200",
                         "--days", "6", "--out", streamFile.path] + (kind == .clickEvents ? ["--click-events"] : []))
        let produced = try Self.count(streamFile, kind: kind)
        #expect(produced.impressions == impressions)
        #expect(produced.itemUpserts > 0)
        #expect((produced.clicks > 0) == (kind == .clickEvents))

        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger("mock"))
        // The broker outlives every daemon: this runs after their clean-ups, on every exit path.
        defer { withExtendedLifetime(cluster) {} }
        try cluster.createTopic("hsnn.events", partitions: 1)
        try cluster.createTopic("hsnn.items", partitions: 1)
        let brokers = cluster.bootstrapServers
        let report = try runHSNN(["produce", "--brokers", brokers, "--file", streamFile.path,
                                  "--items-topic", "hsnn.events", "--property", "enable.idempotence=true",
                                  // Small record batches: a fetch returns whole batches.
                                  "--property", "batch.num.messages=50"])
        #expect(report.contains("\"delivered\":\(produced.records)"), "produce: \(report)")
        try cluster.setRoundTripTime(.milliseconds(25))
        let total = Int64(produced.records)
        let partition = "hsnn.events/0"
        let log = { (line: String) in print("crash test [\(kind.rawValue)]: \(line)") }
        log("produced \(produced.records) records (\(produced.impressions) impressions, \(produced.clicks) clicks, "
            + "\(produced.itemUpserts) upserts, \(produced.itemDeletes) deletes) in \(started.duration(to: .now))")

        // Run A: uninterrupted.
        let dirA = folder.appendingPathComponent("checkpoints-a")
        let runA = try DaemonProcess("run-a", arguments: daemonArguments(brokers: brokers, group: "crash-a", checkpoints: dirA),
                                     log: folder.appendingPathComponent("run-a.log"))
        defer { runA.child.killIfRunning() }
        let portA = try await runA.httpPort()
        let startA = ContinuousClock.now
        // Everything consumed, and the partial batch left at the end of the stream trained
        // (training.max_batch_delay after the end was reached).
        try await runA.waitForStatus(port: portA, seconds: 300, "run A to consume everything") {
            $0.offsets[partition] == total && $0.pipeline.waitingInBatch == 0
        }
        let trainA = startA.duration(to: .now)
        runA.child.send(SIGTERM)
        let exitA = try await runA.child.waitForExit(seconds: 60)
        #expect(exitA.reason == .exit && exitA.status == 0, "run A exit: \(exitA)\n\(runA.child.tail())")
        log("run A trained the stream in \(trainA)")

        // Run B: killed at 20 moments, restarted each time.
        let dirB = folder.appendingPathComponent("checkpoints-b")
        var rng = SeededRandom(seed: Self.seed)
        let plans = Self.killPlans(total: total, using: &rng)
        var leftMidPublish = 0
        var killedWithPublishInFlight = 0
        for (life, plan) in plans.enumerated() {
            let run = try DaemonProcess("run-b\(life)", arguments: daemonArguments(brokers: brokers, group: "crash-b", checkpoints: dirB),
                                        log: folder.appendingPathComponent("run-b\(life).log"))
            defer { run.child.killIfRunning() }
            let observed = try await Self.execute(plan, on: run, checkpoints: dirB, partition: partition, total: total)
            run.child.send(SIGKILL)
            let exit = try await run.child.waitForExit(seconds: 30)
            #expect(exit.reason == .uncaughtSignal && exit.status == SIGKILL, "life \(life) exit: \(exit)")
            let leftovers = Self.temporaryFolders(in: dirB)
            if !leftovers.isEmpty { leftMidPublish += 1 }
            if observed.publishInFlight { killedWithPublishInFlight += 1 }
            log("kill \(life + 1)/\(plans.count) \(plan): \(observed.note); LATEST "
                  + "\((try? String(contentsOf: dirB.appendingPathComponent("LATEST"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "none")"
                  + (leftovers.isEmpty ? "" : ", left \(leftovers.joined(separator: ","))"))
        }
        let finalB = try DaemonProcess("run-b-final", arguments: daemonArguments(brokers: brokers, group: "crash-b", checkpoints: dirB),
                                       log: folder.appendingPathComponent("run-b-final.log"))
        defer { finalB.child.killIfRunning() }
        let portB = try await finalB.httpPort()
        try await finalB.waitForStatus(port: portB, seconds: 300, "run B to consume everything") {
            $0.offsets[partition] == total && $0.pipeline.waitingInBatch == 0
        }
        finalB.child.send(SIGTERM)
        let exitB = try await finalB.child.waitForExit(seconds: 60)
        #expect(exitB.reason == .exit && exitB.status == 0, "final run B exit: \(exitB)\n\(finalB.child.tail())")
        log("\(plans.count) kills, \(killedWithPublishInFlight) with a publish in flight, "
              + "\(leftMidPublish) left a temporary version folder behind")
        #expect(leftMidPublish >= 1, "no kill landed inside a publish")

        // The final models and states.
        let a = try FinalCheckpoint(directory: dirA)
        let b = try FinalCheckpoint(directory: dirB)
        for final in [a, b] {
            // Every impression is trained, waits in the partial batch, or (with click events)
            // waits in the joiner for its attribution window to close.
            let waiting = Int64(final.pipeline.partialBatch.count)
            let pending = Int64(final.pipeline.joiner.pendingImpressions.count)
            #expect(final.eventsTrained + waiting + pending == Int64(produced.impressions),
                    "\(final.directory.lastPathComponent): events_trained \(final.eventsTrained) + \(waiting) waiting in the batch + \(pending) pending in the joiner")
            #expect(final.pipeline.joiner.counters.duplicates == 0)
            if kind == .labelled { #expect(pending == 0) }
            #expect(final.manifestOffsets[partition] == total)
            #expect(final.pipeline.counters.itemUpserts == Int64(produced.itemUpserts))
            #expect(final.pipeline.counters.itemDeletes == Int64(produced.itemDeletes))
            #expect(final.pipeline.counters.events == total)
        }
        // Control: the comparison tells apart two versions of run A that reflect different events.
        let store = try CheckpointStore(directory: dirA, logger: testLogger("store"), create: false)
        let earlier = try store.versions().reversed().filter { $0 < a.version }.map { try FinalCheckpoint(directory: dirA, version: $0) }
            .first { $0.counters["events_processed"] != a.counters["events_processed"] }
        let control = try #require(earlier, "run A kept no earlier version that reflects fewer events")
        #expect(try !a.differences(from: control).isEmpty, "the comparison found no difference between \(control.version) and \(a.version)")
        let differences = try a.differences(from: b)
        #expect(differences.isEmpty, "the interrupted model differs from the uninterrupted one:\n\(differences.joined(separator: "\n"))")
        #expect(a.pipeline == b.pipeline, "pipeline states differ")
        #expect(a.counters == b.counters, "manifest counters differ: \(a.counters) vs \(b.counters)")
        log("compared \(a.tensorCount) tensors (\(a.tensorBytes) bytes): \(differences.isEmpty ? "identical" : "\(differences.count) differ"); "
            + "\(b.eventsTrained) trained, \(b.pipeline.counters.positivesTrained) positive; "
            + "B published \(b.version.folderName), A \(a.version.folderName); total \(started.duration(to: .now))")
        if differences.isEmpty == false || a.pipeline != b.pipeline {
            keep = true
            log("kept \(folder.path) for inspection")
        }
    }

    // MARK: - Kill schedule

    /// 20 kills of four kinds (3 in start-up, 5 while training, 8 during a publish, 4 right
    /// after one) in a seeded random order, at sorted seeded random stream positions that end
    /// early enough for two more publishes (every 1,000 events) to follow.
    static func killPlans(total: Int64, using rng: inout SeededRandom) -> [KillPlan] {
        var kinds = Array(repeating: 0, count: 3) + Array(repeating: 1, count: 5) + Array(repeating: 2, count: 8)
            + Array(repeating: 3, count: 4)
        kinds.shuffle(using: &rng)
        let positions = (0..<kinds.count).map { _ in Int64.random(in: 0..<(total - 2_500), using: &rng) }.sorted()
        return zip(kinds, positions).map { kind, at in
            switch kind {
            case 0: .startup(delayMs: Int.random(in: 0..<2_000, using: &rng))
            case 1: .training(at: at, extra: Int64.random(in: 0..<500, using: &rng))
            case 2: .midPublish(at: at, publish: Int.random(in: 1...2, using: &rng), delayMicros: Int.random(in: 0..<3_000, using: &rng))
            default: .afterPublish(at: at, publish: Int.random(in: 1...2, using: &rng))
            }
        }
    }

    struct Observation {
        var note: String
        var publishInFlight = false
    }

    /// Waits for the moment `plan` names (the caller then sends SIGKILL). When too little of
    /// the stream is left for the moment to come (no publish follows), it gives up after the
    /// model reflects the whole stream and says so.
    static func execute(_ plan: KillPlan, on run: DaemonProcess, checkpoints: URL, partition: String, total: Int64) async throws -> Observation {
        if case .startup(let delay) = plan {
            try await Task.sleep(for: .milliseconds(delay))
            return Observation(note: "killed during start-up")
        }
        let port = try await run.httpPort()
        let restored = try await restoredOffset(of: run, partition: partition)
        var reflected = restored
        var reachedAt: Int64?
        var publishesSeen = 0
        var knownTemporary = Set<String>()
        let latestURL = checkpoints.appendingPathComponent("LATEST")
        var latest: String?
        var completeSince: ContinuousClock.Instant?
        var lastStatusPoll = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(120)
        // A tight loop (sub-millisecond) so a kill lands inside a publish that takes ~0.1 s.
        while true {
            guard run.child.isRunning else { throw ProcessTestError("\(run.child.name) exited:\n\(run.child.tail())") }
            guard ContinuousClock.now < deadline else { throw ProcessTestError("\(plan) did not happen within 120 s:\n\(run.child.tail())") }
            if reachedAt == nil, reflected >= plan.position {
                reachedAt = reflected
                knownTemporary = Set(temporaryFolders(in: checkpoints))
                latest = try? String(contentsOf: latestURL, encoding: .utf8)
            }
            if let reachedAt {
                let context = "restored \(restored), reached \(reachedAt)"
                switch plan {
                case .startup:
                    break
                case .training(let at, let extra):
                    if reflected >= at + extra { return Observation(note: "\(context), reflects \(reflected)") }
                case .midPublish(_, let publish, let delay):
                    let current = temporaryFolders(in: checkpoints)
                    if let fresh = current.first(where: { !knownTemporary.contains($0) }) {
                        publishesSeen += 1
                        knownTemporary.formUnion(current)
                        if publishesSeen == publish {
                            if delay > 0 { usleep(UInt32(delay)) }
                            return Observation(note: "\(context), \(fresh) appeared", publishInFlight: true)
                        }
                    }
                case .afterPublish(_, let publish):
                    let now = try? String(contentsOf: latestURL, encoding: .utf8)
                    if let now, now != latest {
                        latest = now
                        publishesSeen += 1
                        if publishesSeen == publish {
                            return Observation(note: "\(context), LATEST moved to \(now.trimmingCharacters(in: .whitespacesAndNewlines))")
                        }
                    }
                }
            }
            if lastStatusPoll.duration(to: .now) >= .milliseconds(20) {
                lastStatusPoll = .now
                reflected = max(reflected, await run.status(port: port)?.offsets[partition] ?? 0)
                if reflected >= total {
                    completeSince = completeSince ?? .now
                    // The final chunk's publish, if any, happens within a second.
                    if completeSince!.duration(to: .now) >= .seconds(2) {
                        return Observation(note: "restored \(restored), the stream is complete: no such moment left")
                    }
                }
            } else {
                usleep(200)
            }
        }
    }

    /// The offset this life resumed from (0 without a checkpoint), from its log.
    static func restoredOffset(of run: DaemonProcess, partition: String) async throws -> Int64 {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let log = run.child.log()
            if log.contains("no checkpoint yet") { return 0 }
            if let line = log.split(separator: "\n").first(where: { $0.contains("resumed from checkpoint") }) {
                return logfmtValue("checkpoint.offsets", in: line)
                    .flatMap { $0.split(separator: ",").first { $0.hasPrefix(partition + "=") } }
                    .flatMap { Int64($0.dropFirst(partition.count + 1)) } ?? 0
            }
            guard run.child.isRunning else { throw ProcessTestError("\(run.child.name) exited:\n\(run.child.tail())") }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ProcessTestError("\(run.child.name) logged no restore within 60 s:\n\(run.child.tail())")
    }

    static func temporaryFolders(in directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix(".tmp-v") }.sorted()
    }

    static func count(_ file: URL, kind: StreamKind = .labelled) throws -> ProducedStream {
        let text = try String(contentsOf: file, encoding: .utf8)
        let decoder = EventDecoder(limits: DecoderLimits(maxFutureSkewMs: nil))
        var produced = ProducedStream()
        for line in text.split(separator: "\n") where !line.isEmpty {
            produced.records += 1
            switch try decoder.decode(line) {
            case .impression(let e):
                #expect((e.clicked != nil) == (kind == .labelled), "impressions must be labelled exactly in the labelled stream")
                produced.impressions += 1
            case .item(let e): if e.op == .upsert { produced.itemUpserts += 1 } else { produced.itemDeletes += 1 }
            case .click:
                #expect(kind == .clickEvents, "only the click-events stream holds click events")
                produced.clicks += 1
            }
        }
        return produced
    }
}

/// One checkpoint version (by default the one `LATEST` names), read for comparison.
struct FinalCheckpoint {
    let directory: URL
    let version: CheckpointVersion
    let folder: URL
    let counters: [String: CheckpointCounter]
    let manifestOffsets: [String: Int64]
    let pipeline: LearnerFeed.State
    let tensorFiles: [String: SafetensorsFile]
    let sideFiles: [String: Data]

    static let modelFiles = ["weights.safetensors", "optimizer.safetensors", "state.safetensors"]
    static let modelSideFiles = ["model.json", "items.json"]

    init(directory: URL, version wanted: CheckpointVersion? = nil) throws {
        self.directory = directory
        let store = try CheckpointStore(directory: directory, logger: testLogger("store"), create: false)
        let loaded: LoadedCheckpoint
        if let wanted {
            loaded = try store.load(wanted)
        } else {
            loaded = try #require(try store.loadLatestVerified())
            #expect(loaded.rejected.isEmpty, "rejected versions in \(directory.path): \(loaded.rejected)")
        }
        defer { loaded.lease.release() }
        version = loaded.version
        folder = loaded.folder
        counters = loaded.manifest.counters
        manifestOffsets = Dictionary(uniqueKeysWithValues: loaded.manifest.offsets.map { ("\($0.topic)/\($0.partition)", $0.nextOffset) })
        pipeline = try PipelineStateFile.read(from: loaded.folder)
        var tensors: [String: SafetensorsFile] = [:]
        for name in Self.modelFiles { tensors[name] = try SafetensorsFile(path: loaded.folder.appendingPathComponent(name).path) }
        tensorFiles = tensors
        var side: [String: Data] = [:]
        for name in Self.modelSideFiles { side[name] = try Data(contentsOf: loaded.folder.appendingPathComponent(name)) }
        sideFiles = side
    }

    var eventsTrained: Int64 { counters[CheckpointManifest.eventsTrainedCounter]?.intValue ?? -1 }
    var tensorCount: Int { tensorFiles.values.map(\.tensors.count).reduce(0, +) }
    var tensorBytes: Int { tensorFiles.values.flatMap(\.tensors).map { $0.dataOffsets.count }.reduce(0, +) }

    /// Every tensor and model side file that is not identical, described.
    func differences(from other: FinalCheckpoint) throws -> [String] {
        var out: [String] = []
        for name in Self.modelFiles {
            let mine = tensorFiles[name]!, theirs = other.tensorFiles[name]!
            let names = Set(mine.tensors.map(\.name)), otherNames = Set(theirs.tensors.map(\.name))
            if names != otherNames {
                out.append("\(name): tensor names differ: only here \(names.subtracting(otherNames).sorted()), only there \(otherNames.subtracting(names).sorted())")
            }
            for info in mine.tensors.sorted(by: { $0.name < $1.name }) where otherNames.contains(info.name) {
                let o = theirs.info(info.name)!
                guard info.dtype == o.dtype, info.shape == o.shape else {
                    out.append("\(name) \(info.name): \(info.dtype) \(info.shape) vs \(o.dtype) \(o.shape)")
                    continue
                }
                let x = try mine.rawBytes(info.name), y = try theirs.rawBytes(info.name)
                if !x.elementsEqual(y) {
                    var detail = ""
                    if info.dtype == .f32 {
                        let fx = try mine.floats(info.name), fy = try theirs.floats(info.name)
                        let diffs = zip(fx, fy).filter { $0.bitPattern != $1.bitPattern }
                        let maxDiff = diffs.map { abs($0 - $1) }.max() ?? 0
                        detail = ": \(diffs.count) of \(fx.count) values differ, max |diff| \(maxDiff)"
                    }
                    out.append("\(name) \(info.name) \(info.shape)\(detail)")
                }
            }
        }
        for name in Self.modelSideFiles where sideFiles[name] != other.sideFiles[name] {
            out.append("\(name) differs")
        }
        return out
    }
}
