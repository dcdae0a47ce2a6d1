import Foundation
import HSNNDaemon
import HSNNPipeline
import HSNNSynth
import HSNNSupport

extension E2EReport {
    /// Derives the report from the stages measured alone and the end-to-end run.
    static func make(blas: BenchBLAS, synth: SynthConfig, stages: StageResults, run: EndToEndResult, settings: DaemonSettings,
                     partitions: Int,
                     checkpointEvery: Double, flatThreshold: Double, before: [Double], after: [Double]) -> E2EReport {
        let samples = run.samples
        let warmIndex = samples.firstIndex { $0.seconds >= run.measuredSeconds / 4 } ?? 0
        let warm = samples.isEmpty ? nil : samples[warmIndex]
        let end = samples.last
        let steadySeconds = (end?.seconds ?? 0) - (warm?.seconds ?? 0)
        let steadyEvents = steadySeconds > 0 ? Double((end?.eventsProcessed ?? 0) - (warm?.eventsProcessed ?? 0)) / steadySeconds
            : Double(run.eventsProcessed) / max(run.measuredSeconds, 1e-9)
        let steadyExamples = steadySeconds > 0 ? Double((end?.examplesTrained ?? 0) - (warm?.examplesTrained ?? 0)) / steadySeconds
            : Double(run.examplesTrained) / max(run.measuredSeconds, 1e-9)

        let steadyCPU = (end?.cpuSeconds ?? 0) - (warm?.cpuSeconds ?? 0)
        let steadyPerCPU = steadySeconds > 0 && steadyCPU > 0
            ? Double((end?.eventsProcessed ?? 0) - (warm?.eventsProcessed ?? 0)) / steadyCPU
            : Double(run.eventsProcessed) / max(run.cpuSeconds, 1e-9)

        var rates = stages.rates
        for i in rates.indices {
            rates[i].ratioToEndToEnd = steadyEvents > 0 ? rates[i].eventsPerSecond / steadyEvents : nil
            rates[i].cpuRatioToEndToEnd = steadyPerCPU > 0 ? rates[i].eventsPerCpuSecond / steadyPerCPU : nil
        }
        let slowest = rates.min { $0.eventsPerCpuSecond < $1.eventsPerCpuSecond }
        let slowestAlone = slowest.map { stage in
            "\(stage.stage) (\(f(stage.eventsPerCpuSecond, 0)) events/cpu-s, \(f(stage.eventsPerSecond, 0)) events/s); "
                + "end to end reaches \(f(100 * steadyPerCPU / stage.eventsPerCpuSecond, 0))% of its per-CPU rate and "
                + "\(f(100 * steadyEvents / stage.eventsPerSecond, 0))% of its wall rate"
        } ?? "unknown"
        // Who waited for whom after warm-up decides the bottleneck: a training thread that is
        // busy all the time limits the rate; one that waits for records while the poller does
        // not wait for room is starved by ingest.
        let window = max(steadySeconds, 1e-9)
        let trainerBusy = steadySeconds > 0
            ? max(0, 1 - ((end?.trainerIdleSeconds ?? 0) - (warm?.trainerIdleSeconds ?? 0)) / window) : .nan
        let pollerBlocked = steadySeconds > 0
            ? ((end?.ingestBlockedSeconds ?? 0) - (warm?.ingestBlockedSeconds ?? 0)) / window : .nan
        let bottleneck = Self.bottleneck(
            trainerBusy: trainerBusy, pollerBlocked: pollerBlocked,
            trainerCores: run.threads.first { $0.thread == "hsnn-trainer" }?.cores,
            pollerCores: run.threads.first { $0.thread == "hsnn-poller" }?.cores)

        let warmSamples = Array(samples[warmIndex...])
        let growth = warm.flatMap { w in end.map { 100 * ($0.rssMiB - w.rssMiB) / w.rssMiB } } ?? .nan
        let total = run.measuredSeconds
        let secondQuarter = samples.filter { $0.seconds > total / 4 && $0.seconds <= total / 2 }.map(\.rssMiB)
        let lastQuarter = samples.filter { $0.seconds > 3 * total / 4 }.map(\.rssMiB)
        let q2 = secondQuarter.isEmpty ? (warm?.rssMiB ?? .nan) : median(secondQuarter, ifEmpty: .nan)
        let q4 = lastQuarter.isEmpty ? (end?.rssMiB ?? .nan) : median(lastQuarter, ifEmpty: .nan)
        let medianGrowth = 100 * (q4 - q2) / q2
        let s = run.finalStatus
        let pauses = run.snapshotPauses.map { $0 * 1000 }
        let lagAtEnd = s.lag.values.reduce(0, +)
        return E2EReport(
            date: ISO8601DateFormatter().string(from: Date()),
            machine: Machine(processors: ProcessInfo.processInfo.activeProcessorCount, loadAverageBefore: before, loadAverageAfter: after),
            blas: blas,
            stream: Stream(seed: synth.seed, clickEvents: synth.emitClickEvents, impressions: synth.numImpressions,
                           users: synth.numUsers, items: synth.numItems, stageEvents: stages.events,
                           stageExamples: stages.examples, meanMessageBytes: stages.meanMessageBytes,
                           broker: settings.usesEmbeddedBroker
                               ? "in-process librdkafka mock cluster, \(partitions) event partitions + 1 catalog partition"
                               : settings.brokers),
            stages: rates,
            endToEnd: EndToEnd(
                seconds: run.measuredSeconds, eventsPerSecond: steadyEvents, eventsPerCpuSecond: steadyPerCPU, examplesPerSecond: steadyExamples,
                eventsPerSecondOverall: Double(run.eventsProcessed) / max(run.measuredSeconds, 1e-9),
                eventsProcessed: run.eventsProcessed, examplesTrained: run.examplesTrained, eventsProduced: run.produced,
                producerExhaustedAtSeconds: run.producerExhaustedAt, producerError: run.producerError,
                recordsLost: run.recordsLost, cpuPercent: 100 * run.cpuSeconds / max(run.measuredSeconds, 1e-9),
                bottleneck: bottleneck, slowestStageAlone: slowestAlone, threads: run.threads, finalLoss: s.learner["loss"], liveItems: s.learner["live_items"]),
            checkpoints: Checkpoints(
                cadenceSeconds: checkpointEvery, published: run.publishSeconds.count, failed: run.publishFailures,
                bytes: run.checkpointBytes, pauseMedianMs: pauses.isEmpty ? nil : median(pauses, ifEmpty: .nan), pauseMaxMs: pauses.max(),
                pausesMs: pauses,
                pauseFirstQuarterMedianMs: pauses.count >= 4 ? median(Array(pauses.prefix(pauses.count / 4)), ifEmpty: .nan) : nil,
                pauseLastQuarterMedianMs: pauses.count >= 4 ? median(Array(pauses.suffix(pauses.count / 4)), ifEmpty: .nan) : nil,
                publishMedianSeconds: run.publishSeconds.isEmpty ? nil : median(run.publishSeconds, ifEmpty: .nan),
                publishMaxSeconds: run.publishSeconds.max()),
            backpressure: Backpressure(
                producerLeadLimitPerPartition: run.leadLimit, producerMaxPartitionLead: run.maxPartitionLead,
                producerMaxTotalLead: run.maxTotalLead, queueCapacity: run.queueCapacity,
                maxPolledNotTrained: run.maxInProcess, pauses: run.backpressurePauses,
                pauseAfterMs: settings.pauseAfter.inMilliseconds,
                secondsPaused: run.secondsPaused,
                shareOfTimePaused: run.secondsPaused / max(run.measuredSeconds, 1e-9),
                trainerBusyShare: trainerBusy, pollerBlockedShare: pollerBlocked,
                shareOfTimeTrainerStarved: run.secondsStarved / max(run.measuredSeconds, 1e-9), kafkaLagAtEnd: lagAtEnd),
            memory: Memory(
                sampleEverySeconds: samples.count > 1 ? samples[1].seconds - samples[0].seconds : run.measuredSeconds,
                samples: samples, warmAtSeconds: warm?.seconds ?? 0, rssWarmMiB: warm?.rssMiB ?? .nan,
                rssEndMiB: end?.rssMiB ?? .nan, rssMaxMiB: samples.map(\.rssMiB).max() ?? .nan,
                growthAfterWarmPercent: growth,
                slopeAfterWarmMiBPerMinute: 60 * slope(warmSamples.map { ($0.seconds, $0.rssMiB) }),
                slopeSecondHalfMiBPerMinute: 60 * slope(samples.filter { $0.seconds > total / 2 }.map { ($0.seconds, $0.rssMiB) }),
                secondQuarterMedianMiB: q2, lastQuarterMedianMiB: q4, medianGrowthPercent: medianGrowth,
                flatThresholdPercent: flatThreshold, flatOnceWarm: medianGrowth.isFinite && medianGrowth < flatThreshold,
                joinerPendingImpressions: s.joiner.pendingImpressions,
                eventIdsRemembered: min(Int64(settings.joiner.dedupeCapacity), s.joiner.impressions + s.joiner.clicks),
                dedupeCapacity: settings.joiner.dedupeCapacity))
    }

    /// Names the stage that limits the end-to-end rate from the shares measured after warm-up.
    ///
    /// - A training thread busy (not waiting for records) at least 90% of the time limits the rate:
    ///   `train`, however fast training runs alone (on a shared machine it also waits for a core).
    /// - A training thread that waits for records while the poller seldom waits for room (at most
    ///   10% of the time) is starved by `ingest` (broker fetch, poll, decode).
    /// - Both waiting is the `hand-off` between them (pauses and refetches, wake-ups).
    static func bottleneck(trainerBusy: Double, pollerBlocked: Double, trainerCores: Double?, pollerCores: Double?) -> String {
        guard trainerBusy.isFinite, pollerBlocked.isFinite else { return "unknown (the run was too short to measure after warm-up)" }
        let busy = "the training thread was busy \(f(100 * trainerBusy, 0))% of the time"
            + (trainerCores.map { " (\(f($0, 2)) cores of CPU)" } ?? "")
        let blocked = "the poller waited for room in the full ingest queue \(f(100 * pollerBlocked, 0))%"
            + (pollerCores.map { " (poll + decode used \(f($0, 2)) cores)" } ?? "")
        if trainerBusy >= 0.9 { return "train: \(busy); \(blocked)" }
        if pollerBlocked <= 0.1 {
            return "ingest (broker fetch, poll, decode): \(busy), it waited for records the rest; \(blocked)"
        }
        return "hand-off between poller and trainer: \(busy), it waited for records the rest, while \(blocked)"
    }
}
