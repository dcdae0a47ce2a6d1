import HSNNBench
import Testing
import HSNNTestSupport

@Suite("DecodeBenchmark")
struct DecodeBenchmarkTests {
    @Test func generatedMessagesDecodeEverywhere() {
        let result = DecodeBenchmark.run(.init(messageCount: 300, runs: 1, minimumRunSeconds: 0.001))
        #expect(result.measurements.map(\.name) == [
            "hsnn.impressions", "hsnn.mixed", "foundation.jsonserialization.impressions", "foundation.jsondecoder.impressions",
        ])
        for m in result.measurements {
            #expect(m.failures == 0, "\(m.name) rejected generated messages")
            #expect(m.eventsPerSecond > 0 && m.eventsPerCPUSecond > 0)
        }
        #expect(result.meanImpressionBytes > 150)
        #expect(result.jsonLine.hasPrefix("{\"benchmark\":\"decode\""))
        #expect(result.speedupOverJSONSerialization != nil)
    }
}
