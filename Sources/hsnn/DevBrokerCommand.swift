import ArgumentParser
import Foundation
import HSNNDaemon
import Logging
import UnixSignals

/// `hsnn dev-broker`: librdkafka's mock cluster as a standalone development broker.
struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an in-memory Kafka broker (librdkafka's mock cluster) on 127.0.0.1 for development and tests.",
        discussion: """
            Prints the bootstrap address (127.0.0.1:PORT, chosen by the system) on its first line, then runs \
            until interrupted. Data lives in memory only. Point the daemon at it with \
            --set kafka.brokers=127.0.0.1:PORT, and producers (hsnn produce, kcat -b 127.0.0.1:PORT) too.
            """)

    @Option(help: "Events topic to create.") var eventsTopic = "hsnn.events"
    @Option(help: "Catalog topic to create.") var itemsTopic = "hsnn.items"
    @Option(help: "Partitions of the events topic.") var partitions = 4

    func run() async throws {
        var logger = Logger(label: "hsnn.dev-broker")
        logger.logLevel = .warning
        let broker = try EmbeddedBroker(eventsTopic: eventsTopic, itemsTopic: itemsTopic, eventPartitions: partitions, logger: logger)
        FileHandle.standardOutput.write(Data((broker.bootstrapServers + "\n").utf8))
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        withExtendedLifetime(broker) {}
    }
}
