import Foundation
import HSNNDaemon
import HSNNKafka
import HSNNOps
import Logging
import Synchronization
import Testing
import HSNNTestSupport

/// The package root, found from this file's path (Tests/HSNNDaemonTests/<file>).

/// The consumer's `kafka.properties` and the dead-letter producer's `kafka.producer_properties`.
@Suite struct DeadLetterPropertiesTests {
    /// Consumer-only properties an operator typically sets, a property for any client and a
    /// producer-only one.
    private static let overrides = [
        "kafka.properties.session.timeout.ms=6000", "kafka.properties.heartbeat.interval.ms=500",
        "kafka.properties.max.poll.interval.ms=10000", "kafka.properties.fetch.min.bytes=1",
        "kafka.properties.partition.assignment.strategy=roundrobin", "kafka.properties.auto.commit.interval.ms=1000",
        "kafka.properties.socket.timeout.ms=20000", "kafka.properties.client.id=trainer-1",
        "kafka.producer_properties.linger.ms=20",
    ]
    private static let consumerOnly = [
        "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "fetch.min.bytes",
        "partition.assignment.strategy", "auto.commit.interval.ms",
    ]

    private func configuration(_ overrides: [String]) throws -> Configuration {
        try ConfigLoader(schema: ModelSettings.schema).load(
            file: packageRoot.appendingPathComponent("config/dev.toml").path, environment: [:], overrides: overrides)
    }

    @Test func librdkafkaTellsConsumerPropertiesApart() {
        for name in Self.consumerOnly { #expect(KafkaPropertyScope.of(name) == .consumer, "\(name)") }
        #expect(KafkaPropertyScope.of("socket.timeout.ms") == .any)
        #expect(KafkaPropertyScope.of("security.protocol") == .any)
        #expect(KafkaPropertyScope.of("linger.ms") == .producer)
        #expect(KafkaPropertyScope.of("auto.offset.reset") == .consumer, "topic properties are listed too")
        #expect(KafkaPropertyScope.of("no.such.property") == nil)
    }

    /// No consumer-only property reaches the producer; shared and producer properties do.
    @Test func theProducerGetsNoConsumerProperty() throws {
        let settings = try ValidatedConfiguration(configuration(Self.overrides)).settings
        let producer = settings.deadLetterConfiguration(bootstrap: "127.0.0.1:9092")
        for name in producer.properties.keys {
            #expect(KafkaPropertyScope.of(name) != .consumer, "\(name) reached the producer")
        }
        for name in Self.consumerOnly { #expect(producer.properties[name] == nil, "\(name)") }
        #expect(producer.properties["socket.timeout.ms"] == "20000")
        #expect(producer.properties["linger.ms"] == "20")
        #expect(producer.clientID == "trainer-1-dead-letter")
        let consumer = settings.consumerConfiguration(bootstrap: "127.0.0.1:9092")
        for name in Self.consumerOnly { #expect(consumer.properties[name] != nil, "the consumer lost \(name)") }
        #expect(consumer.clientID == "trainer-1")
    }

    /// `kafka.producer_properties` wins over the shared entries, `client.id` included.
    @Test func producerPropertiesOverrideSharedOnes() throws {
        let settings = try ValidatedConfiguration(configuration(Self.overrides + [
            "kafka.producer_properties.socket.timeout.ms=30000", "kafka.producer_properties.client.id=letters",
        ])).settings
        let producer = settings.deadLetterConfiguration(bootstrap: "127.0.0.1:9092")
        #expect(producer.properties["socket.timeout.ms"] == "30000")
        #expect(producer.clientID == "letters")
        #expect(settings.consumerConfiguration(bootstrap: "127.0.0.1:9092").properties["socket.timeout.ms"] == "20000")
    }

    /// librdkafka itself logs no CONFWARN for the producer built from these settings; the same
    /// properties handed over unfiltered do produce one (so the check can see it).
    @Test func creatingTheProducerLogsNoConfigurationWarning() throws {
        let settings = try ValidatedConfiguration(configuration(Self.overrides)).settings
        let filtered = settings.deadLetterConfiguration(bootstrap: "127.0.0.1:9")
        var unfiltered = filtered
        unfiltered.properties.merge(settings.kafkaProperties.filter { $0.key != "client.id" }) { own, _ in own }

        let clean = LineCapture()
        _ = try KafkaProducer(configuration: filtered, logger: Logger(label: "test") { _ in clean })
        #expect(!clean.lines.contains { $0.contains("CONFWARN") || $0.contains("consumer property") }, "\(clean.lines)")

        let warned = LineCapture()
        _ = try KafkaProducer(configuration: unfiltered, logger: Logger(label: "test") { _ in warned })
        #expect(warned.lines.contains { $0.contains("session.timeout.ms") }, "\(warned.lines)")
    }

    /// A bad producer property stops the start like a bad consumer property, named as given.
    @Test(arguments: [
        ("kafka.producer_properties.no.such.prop=1", "kafka.producer_properties.no.such.prop"),
        ("kafka.producer_properties.linger.ms=abc", "kafka.producer_properties.linger.ms"),
        ("kafka.producer_properties.session.timeout.ms=6000", "kafka.producer_properties.session.timeout.ms"),
    ])
    func aBadProducerPropertyIsRefused(setting: String, key: String) throws {
        do {
            _ = try ValidatedConfiguration(configuration([setting]))
            Issue.record("\(setting) was accepted")
        } catch let error as ConfigurationRejected {
            #expect(error.description.hasPrefix(key + " ") || error.description.hasPrefix(key + ":"), "\(error)")
            #expect(error.description.contains("--set \(setting)"), "\(error)")
        }
    }

    /// `hsnn config check` exits 64 on a bad producer property.
    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)))
    func configCheckRefusesABadProducerProperty() throws {
        let dev = packageRoot.appendingPathComponent("config/dev.toml").path
        let check = try runHSNNStatus(["config", "check", dev, "--set", "kafka.producer_properties.no.such.prop=1"])
        #expect(check.status == 64, "\(check.output)")
        #expect(check.output.contains("kafka.producer_properties.no.such.prop"), "\(check.output)")
    }
}

/// Keeps every rendered log line.
private final class LineCapture: LogHandler, Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }

    func log(event: LogEvent) {
        storage.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
    }

    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
}
