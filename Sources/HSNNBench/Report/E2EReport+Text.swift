import Foundation

extension E2EReport {
    /// Tables for people.
    public var text: String {
        var out = "hsnn bench e2e  \(date)\n"
        out += "machine: \(machine.processors) cores, load average \(list(machine.loadAverageBefore)) before, \(list(machine.loadAverageAfter)) after\n"
        out += "BLAS: \(blas.core), \(blas.threads) threads (OPENBLAS_CORETYPE=\(blas.coretypeEnvironment ?? "unset")): \(blas.selection)\n"
        out += "stream: seed \(stream.seed), \(stream.clickEvents ? "unlabelled impressions + click events" : "labelled impressions"), "
            + "\(stream.users) users, \(stream.items) items, \(stream.impressions) impressions; "
            + "stages measured on the first \(stream.stageEvents) events (\(stream.stageExamples) examples), "
            + "\(f(stream.meanMessageBytes, 0)) B per message\n"
        out += "broker: \(stream.broker)\n\n"

        out += "stage rates (stream events per second of wall time and of CPU time; ratio = stage alone / end to end)\n"
        out += "  " + pad("stage", 8) + lpad("events/s", 11) + lpad("ratio", 9) + lpad("events/cpu-s", 14) + lpad("ratio", 9)
            + lpad("examples/s", 12) + lpad("threads", 9) + "  what\n"
        for r in stages {
            out += "  " + pad(r.stage, 8) + lpad(f(r.eventsPerSecond, 0), 11) + lpad(r.ratioToEndToEnd.map { f($0, 2) + "x" } ?? "-", 9)
                + lpad(f(r.eventsPerCpuSecond, 0), 14) + lpad(r.cpuRatioToEndToEnd.map { f($0, 2) + "x" } ?? "-", 9)
                + lpad(r.examplesPerSecond.map { f($0, 0) } ?? "-", 12) + lpad("\(r.threads)", 9) + "  \(r.what)\n"
        }
        let e = endToEnd
        out += "  " + pad("e2e", 8) + lpad(f(e.eventsPerSecond, 0), 11) + lpad("1.00x", 9) + lpad(f(e.eventsPerCpuSecond, 0), 14)
            + lpad("1.00x", 9) + lpad(f(e.examplesPerSecond, 0), 12) + lpad("all", 9)
            + "  mock broker -> poll -> decode -> join -> train (after the first quarter; CPU of the whole process)\n"
        out += "  bottleneck: \(e.bottleneck)\n"
        out += "  slowest stage alone: \(e.slowestStageAlone)\n\n"

        out += "end to end: \(f(e.seconds, 0)) s, \(e.eventsProcessed) events processed (\(f(e.eventsPerSecondOverall, 0))/s overall), "
            + "\(e.examplesTrained) examples trained, \(e.eventsProduced) produced, CPU \(f(e.cpuPercent, 0))%, "
            + "records lost \(e.recordsLost)"
            + (e.finalLoss.map { ", loss \(f($0, 4))" } ?? "") + (e.liveItems.map { ", live items \(Int($0))" } ?? "") + "\n"
        out += "  CPU by thread after warm-up (cores = CPU seconds per second):"
        for t in e.threads { out += " \(t.thread) \(f(t.cores, 2)) (\(f(t.percentOfProcess, 0))%);" }
        out += "\n"
        if let t = e.producerExhaustedAtSeconds {
            out += "  WARNING: the stream ran out after \(f(t, 0)) s; the rest of the run had no producer (raise --stream-impressions)\n"
        }
        if let error = e.producerError { out += "  WARNING: producer failed: \(error)\n" }
        if e.recordsLost > 0 {
            out += "  WARNING: \(e.recordsLost) records were dropped by the broker before the daemon read them (lower --lead)\n"
        }

        let c = checkpoints
        out += "checkpoints (every \(f(c.cadenceSeconds, 1)) s): \(c.published) published, \(c.failed) failed"
            + (c.bytes.map { ", \(f($0 / 1_048_576, 1)) MiB each" } ?? "") + "\n"
        out += "  training pause per publish: median \(c.pauseMedianMs.map { f($0, 1) } ?? "-") ms, max \(c.pauseMaxMs.map { f($0, 1) } ?? "-") ms"
            + (c.pauseFirstQuarterMedianMs.map { first in
                "; median of the first quarter of publishes \(f(first, 1)) ms, of the last \(f(c.pauseLastQuarterMedianMs ?? .nan, 1)) ms"
            } ?? "") + "\n"
        out += "  publish time: median \(c.publishMedianSeconds.map { f($0, 2) } ?? "-") s, max \(c.publishMaxSeconds.map { f($0, 2) } ?? "-") s\n"

        let b = backpressure
        out += "backpressure: producer kept <= \(b.producerLeadLimitPerPartition) events ahead per partition "
            + "(max \(b.producerMaxPartitionLead) in one, \(b.producerMaxTotalLead) in all); "
            + "polled but not trained <= \(b.maxPolledNotTrained) (queue capacity \(b.queueCapacity)); "
            + "\(b.pauses) partition pauses (trainer took nothing for \(b.pauseAfterMs) ms), paused \(f(100 * b.shareOfTimePaused, 0))% of the time; "
            + "after warm-up the trainer was busy \(f(100 * b.trainerBusyShare, 1))% and the poller waited on a full queue \(f(100 * b.pollerBlockedShare, 1))% of the time; "
            + "less than one chunk polled and not trained \(f(100 * b.shareOfTimeTrainerStarved, 1))% of the time; "
            + "lag behind the last committed checkpoint at the end \(b.kafkaLagAtEnd)\n\n"

        let m = memory
        out += "resident memory (VmRSS), every \(f(m.sampleEverySeconds, 0)) s\n"
        out += "  " + lpad("t (s)", 7) + lpad("RSS MiB", 10) + lpad("events", 12) + lpad("events/s", 10) + lpad("CPU %", 7)
            + lpad("busy %", 8) + lpad("blocked %", 11) + lpad("pauses", 8) + lpad("paused", 8) + lpad("ckpt", 6) + "\n"
        var previous: MemorySample?
        for s in m.samples {
            let interval = max(s.seconds - (previous?.seconds ?? 0), 1e-9)
            let busy = 100 * (1 - (s.trainerIdleSeconds - (previous?.trainerIdleSeconds ?? 0)) / interval)
            let blocked = 100 * (s.ingestBlockedSeconds - (previous?.ingestBlockedSeconds ?? 0)) / interval
            out += "  " + lpad(f(s.seconds, 0), 7) + lpad(f(s.rssMiB, 1), 10) + lpad("\(s.eventsProcessed)", 12)
                + lpad(f(s.eventsPerSecond, 0), 10) + lpad(f(s.cpuPercent, 0), 7) + lpad(f(max(busy, 0), 0), 8)
                + lpad(f(blocked, 0), 11) + lpad("\(s.backpressurePauses)", 8) + lpad(s.pausedForBackpressure ? "yes" : "no", 8)
                + lpad(s.modelVersion.map(String.init) ?? "-", 6) + "\n"
            previous = s
        }
        out += "  (busy %: training thread not waiting for records; blocked %: poller waiting for room in the full queue; "
            + "pauses: partition pauses so far)\n"
        out += "  warm at \(f(m.warmAtSeconds, 0)) s: \(f(m.rssWarmMiB, 1)) MiB; end \(f(m.rssEndMiB, 1)) MiB (\(sign(m.growthAfterWarmPercent))%); "
            + "max \(f(m.rssMaxMiB, 1)) MiB; slope after warm \(f(m.slopeAfterWarmMiBPerMinute, 2)) MiB/min, "
            + "over the second half \(f(m.slopeSecondHalfMiBPerMinute, 2)) MiB/min\n"
        out += "  median of the second quarter \(f(m.secondQuarterMedianMiB, 1)) MiB, of the last quarter \(f(m.lastQuarterMedianMiB, 1)) MiB "
            + "(\(sign(m.medianGrowthPercent))%)\n"
        out += "  flat once warm (median growth < \(f(m.flatThresholdPercent, 0))%): \(m.flatOnceWarm ? "yes" : "no"); "
            + "joiner holds \(m.joinerPendingImpressions) pending impressions and \(m.eventIdsRemembered) of at most \(m.dedupeCapacity) event ids\n"
        return out
    }
}
