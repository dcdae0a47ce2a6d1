import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNPipeline
import Testing
import HSNNTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A corrupt newest checkpoint on start, end to end with real processes: the daemon reports
/// it (log line and `hsnn_checkpoint_rejected_total`), resumes from the previous good version
/// at that version's offsets (not the group's committed ones, which the corrupt version
/// wrote), and retrains what the corrupt version held: its final model equals the one the
/// corruption destroyed, bit for bit.
@Suite(.serialized) struct CheckpointFallbackTests {
    func daemonArguments(brokers: String, checkpoints: URL) -> [String] {
        let settings = [
            "kafka.brokers=\(brokers)", "kafka.group_id=fallback", "checkpoint.dir=\(checkpoints.path)",
            // Only shutdown publishes: each run leaves exactly one version.
            "checkpoint.every_seconds=0", "checkpoint.every_events=0", "checkpoint.keep=10",
            "http.port=0", "log.level=info", "kafka.poll_timeout_ms=50",
            "kafka.properties.session.timeout.ms=3000", "kafka.properties.heartbeat.interval.ms=300",
        ] + CrashRecoveryTests.modelOverrides
        return settings.flatMap { ["--set", $0] }
    }

    /// Starts a daemon, waits until its model reflects `offset`, stops it with SIGTERM.
    func train(to offset: Int64, name: String, brokers: String, checkpoints: URL, folder: URL,
               onStart: (DaemonProcess, Int) async throws -> Void = { _, _ in }) async throws -> DaemonProcess {
        let run = try DaemonProcess(name, arguments: daemonArguments(brokers: brokers, checkpoints: checkpoints),
                                    log: folder.appendingPathComponent("\(name).log"))
        defer { run.child.killIfRunning() }
        let port = try await run.httpPort()
        try await onStart(run, port)
        try await run.waitForStatus(port: port, seconds: 120, "offset \(offset)") { $0.offsets["hsnn.events/0"] == offset }
        run.child.send(SIGTERM)
        let exit = try await run.child.waitForExit(seconds: 60)
        #expect(exit.reason == .exit && exit.status == 0, "\(name) exit: \(exit)\n\(run.child.tail())")
        return run
    }

    /// What a daemon that started on a corrupt newest version must show before it trains on.
    func expectFallback(_ run: DaemonProcess, port: Int, to good: CheckpointVersion, offset: Int64, rejected: [CheckpointVersion]) async throws {
        let resumed = try await run.child.waitForLogLine(containing: "resumed from checkpoint", seconds: 30)
        #expect(logfmtValue("checkpoint.version", in: resumed) == good.folderName, "\(resumed)")
        #expect(logfmtValue("checkpoint.offsets", in: resumed) == "hsnn.events/0=\(offset)", "\(resumed)")
        let logLines = run.child.log().split(separator: "\n")
        for version in rejected {
            let logged = logLines.contains { $0.contains("corrupt") && $0.contains(version.folderName) }
            #expect(logged, "no rejection of \(version.folderName) logged:\n\(run.child.tail())")
        }
        let metricsData: Data = await httpGet(port: port, path: "/metrics") ?? Data()
        let metrics = String(decoding: metricsData, as: UTF8.self)
        let counterLine: Substring? = metrics.split(separator: "\n").first { $0.hasPrefix("hsnn_checkpoint_rejected_total") }
        let rejectedCount: Double? = counterLine.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        #expect(rejectedCount == Double(rejected.count), "hsnn_checkpoint_rejected_total: \(counterLine ?? "absent")")
        let status = try await run.waitForStatus(port: port, seconds: 10, "the restored version in /status") { $0.modelVersion != nil }
        #expect(status.modelVersion == Int64(good.number))
        let assigned = try await run.child.waitForLogLine(containing: "kafka.start_offsets", seconds: 60)
        #expect(logfmtValue("kafka.start_offsets", in: assigned) == "hsnn.events/0=\(offset)",
                "the consumer must resume at the restored version's offsets: \(assigned)")
    }

    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)),
          .timeLimit(.minutes(5)))
    func corruptOrTruncatedNewestVersionFallsBackToThePreviousOneAndRetrainsItsEvents() async throws {
        let folder = try makeScratchFolder("hsnn-fallback")
        defer { try? FileManager.default.removeItem(at: folder) }
        let stream = folder.appendingPathComponent("stream.jsonl")
        _ = try runHSNN(["synth", "--seed", "5", "--events", "6000", "--users", "200", "--items", "400", "--days", "3", "--out", stream.path])
        let produced = try CrashRecoveryTests.count(stream)
        let lines = try String(contentsOf: stream, encoding: .utf8).split(separator: "\n")
        let firstPart = folder.appendingPathComponent("part1.jsonl"), secondPart = folder.appendingPathComponent("part2.jsonl")
        let split = lines.count / 2
        try (lines[..<split].joined(separator: "\n") + "\n").write(to: firstPart, atomically: true, encoding: .utf8)
        try (lines[split...].joined(separator: "\n") + "\n").write(to: secondPart, atomically: true, encoding: .utf8)
        let total = Int64(lines.count), half = Int64(split)

        let broker = try await DevBrokerProcess(partitions: 1, folder: folder)
        defer { broker.child.killIfRunning() }
        func produce(_ file: URL) throws {
            _ = try runHSNN(["produce", "--brokers", broker.bootstrap, "--file", file.path, "--items-topic", "hsnn.events",
                             "--property", "enable.idempotence=true"])
        }
        let dir = folder.appendingPathComponent("checkpoints")
        let v1 = try CheckpointVersion(1), v2 = try CheckpointVersion(2), v3 = try CheckpointVersion(3)

        // v1 reflects the first half, v2 everything (and the group's committed offsets are v2's).
        try produce(firstPart)
        _ = try await train(to: half, name: "run-1", brokers: broker.bootstrap, checkpoints: dir, folder: folder)
        try produce(secondPart)
        _ = try await train(to: total, name: "run-2", brokers: broker.bootstrap, checkpoints: dir, folder: folder)
        let original = try FinalCheckpoint(directory: dir, version: v2)
        #expect(original.manifestOffsets["hsnn.events/0"] == total)

        // A flipped byte in v2's weights: `verify` and the daemon both reject v2.
        let weights = dir.appendingPathComponent(v2.folderName).appendingPathComponent("weights.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: weights)
        let verify = try runHSNNStatus(["checkpoint", "verify", dir.path, "2"])
        #expect(verify.status == 1, "verify of the flipped version: \(verify.output)")
        _ = try await train(to: total, name: "run-3", brokers: broker.bootstrap, checkpoints: dir, folder: folder) { run, port in
            try await expectFallback(run, port: port, to: v1, offset: half, rejected: [v2])
        }
        let afterFlip = try FinalCheckpoint(directory: dir, version: v3)
        #expect(try afterFlip.differences(from: original).isEmpty, "the retrained model differs from the lost one")
        #expect(afterFlip.eventsTrained + Int64(afterFlip.pipeline.partialBatch.count) == Int64(produced.impressions))
        #expect(afterFlip.pipeline == original.pipeline)

        // A truncated file in v3 (v2 is still corrupt): back to v1 again.
        let optimizer = dir.appendingPathComponent(v3.folderName).appendingPathComponent("optimizer.safetensors")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: optimizer.path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: optimizer)
        try handle.truncate(atOffset: UInt64(size / 3))
        try handle.close()
        let verifyTruncated = try runHSNNStatus(["checkpoint", "verify", dir.path, "3"])
        #expect(verifyTruncated.status == 1, "verify of the truncated version: \(verifyTruncated.output)")
        _ = try await train(to: total, name: "run-4", brokers: broker.bootstrap, checkpoints: dir, folder: folder) { run, port in
            try await expectFallback(run, port: port, to: v1, offset: half, rejected: [v3, v2])
        }
        let afterTruncation = try FinalCheckpoint(directory: dir)
        #expect(afterTruncation.version.number == 4)
        #expect(try afterTruncation.differences(from: original).isEmpty, "the retrained model differs from the lost one")
        #expect(afterTruncation.eventsTrained + Int64(afterTruncation.pipeline.partialBatch.count) == Int64(produced.impressions))
        await broker.stop()
    }
}
